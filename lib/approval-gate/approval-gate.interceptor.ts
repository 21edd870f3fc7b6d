import {
  HttpException,
  HttpStatus,
  Injectable,
  Logger,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { Observable, catchError, throwError } from 'rxjs';
import {
  ApprovalAborted,
  ApprovalDenied,
  ApprovalError,
  ApprovalTimeout,
  BrokerProtocolError,
  BrokerUnavailableError,
  NotFoundError,
  SesameAuthError,
  SesameClientClosedError,
} from '../errors.js';
import { ApprovalStoreUnavailableError } from '../approval-store/approval-store.errors.js';
import {
  ApprovalAlreadyUsedError,
  ApprovalCapacityError,
  ApprovalInUseError,
  ApprovalMismatchError,
  ApprovalPending,
  InvalidApprovalIdHeaderError,
} from './approval-gate.errors.js';
import { SESAME_APPROVAL_ID_HEADER } from './approval-id.header.js';
import { ApprovalPendingException } from './approval-pending.exception.js';
import { ApprovalRequestContext } from './approval-request.context.js';

/** Status for a request whose client left before the decision: nobody reads it, but logs should say so. */
const CLIENT_CLOSED_REQUEST = 499;

/**
 * Registered app-wide by SesameModule. It does not decide anything: it lets gates called during an
 * HTTP request stop when the client disconnects and read the request (async mode), and turns approval
 * outcomes into HTTP answers (also for gated service methods called from an ungated route), including
 * the `202` of a pending async approval with its `Sesame-Approval-Id` and `Retry-After` headers.
 * Subclass to change the mapping.
 */
@Injectable()
export class ApprovalGateInterceptor implements NestInterceptor {
  protected readonly logger = new Logger('SesameApproval');

  constructor(private readonly requestContext: ApprovalRequestContext) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const http = context.switchToHttp();
    const scope = ApprovalRequestContext.scopeFor(http.getResponse(), http.getRequest());
    if (!scope) return next.handle();
    return new Observable<unknown>((subscriber) => this.requestContext.run(scope, () => next.handle().subscribe(subscriber))).pipe(
      catchError((error: unknown) => {
        if (error instanceof ApprovalPending) this.setPendingHeaders(http.getResponse(), error);
        if (error instanceof ApprovalInUseError) setRetryAfter(http.getResponse(), error.retryAfter);
        return throwError(() => this.toHttpException(error));
      }),
    );
  }

  /** `Sesame-Approval-Id` and `Retry-After` (whole seconds) on a 202, which no cache may keep. */
  protected setPendingHeaders(response: unknown, pending: ApprovalPending): void {
    setHeader(response, SESAME_APPROVAL_ID_HEADER, pending.approvalId);
    setRetryAfter(response, pending.retryAfter);
    setHeader(response, 'Cache-Control', 'no-store');
  }

  /** Maps approval errors to HTTP; anything else passes through untouched. */
  protected toHttpException(error: unknown): unknown {
    if (!(error instanceof ApprovalError)) return error;
    if (error instanceof ApprovalPending) return new ApprovalPendingException(error);
    if (error instanceof ApprovalMismatchError) {
      return httpError(HttpStatus.FORBIDDEN, error.code, error.message, { approvalId: error.approvalId });
    }
    if (error instanceof ApprovalAlreadyUsedError) {
      return httpError(HttpStatus.CONFLICT, 'approval_already_used', error.message, { approvalId: error.approvalId });
    }
    if (error instanceof ApprovalInUseError) {
      return httpError(HttpStatus.CONFLICT, 'approval_in_use', error.message, { approvalId: error.approvalId });
    }
    if (error instanceof ApprovalCapacityError) {
      this.logger.warn(error.message);
      return httpError(HttpStatus.SERVICE_UNAVAILABLE, 'approval_capacity_exceeded', 'Too many approvals are pending on this server; nothing was run. Retry later.');
    }
    if (error instanceof InvalidApprovalIdHeaderError) {
      return httpError(HttpStatus.BAD_REQUEST, 'approval_id_invalid', error.message);
    }
    if (error instanceof ApprovalStoreUnavailableError) {
      this.logger.error(`Approval gate failed closed: ${error.message}`);
      return httpError(HttpStatus.SERVICE_UNAVAILABLE, 'approval_store_unavailable', 'The approval store is unavailable; nothing was run. Retry later.');
    }
    if (error instanceof ApprovalDenied) {
      return httpError(HttpStatus.FORBIDDEN, 'approval_' + error.status, error.message, { approvalId: error.approvalId, status: error.status });
    }
    if (error instanceof ApprovalTimeout) {
      return httpError(HttpStatus.GATEWAY_TIMEOUT, 'approval_timeout', error.message, { approvalId: error.approvalId, status: 'pending' });
    }
    if (error instanceof BrokerUnavailableError) {
      this.logger.error(error.message);
      return httpError(HttpStatus.SERVICE_UNAVAILABLE, 'approval_broker_unavailable', 'The approval service is unavailable; nothing was run. Retry later.');
    }
    if (error instanceof ApprovalAborted && error.cause instanceof SesameClientClosedError) {
      return httpError(HttpStatus.SERVICE_UNAVAILABLE, 'approval_aborted_shutdown', 'The server is shutting down; nothing was run. Retry later.');
    }
    if (error instanceof ApprovalAborted) {
      return httpError(CLIENT_CLOSED_REQUEST, 'approval_aborted', 'The client disconnected before the decision; nothing was run.');
    }
    if (error instanceof BrokerProtocolError || error instanceof NotFoundError) {
      this.logger.error(`Approval broker answered unexpectedly: ${error.message}`);
      return httpError(HttpStatus.BAD_GATEWAY, 'approval_broker_error', 'The approval service answered unexpectedly; nothing was run.');
    }
    // SesameAuthError, ApprovalGateNotBoundError, RequestRejectedError, SesameConfigError, AsyncApprovalContextError,
    // ApprovalBindingError: our side is misconfigured.
    const hint = error instanceof SesameAuthError ? ' Check SESAME_API_KEY.' : '';
    this.logger.error(`Approval gate failed closed: ${error.message}${hint}`);
    return httpError(HttpStatus.INTERNAL_SERVER_ERROR, 'approval_gate_error', 'The approval gate is misconfigured; nothing was run.');
  }
}

function httpError(status: number, code: string, message: string, extra: Record<string, unknown> = {}): HttpException {
  return new HttpException({ statusCode: status, code, message, ...extra }, status);
}

/** `Retry-After` in whole seconds, at least one. */
function setRetryAfter(response: unknown, ms: number): void {
  setHeader(response, 'Retry-After', String(Math.max(1, Math.ceil(ms / 1000))));
}

/** Express `res.header()` / Fastify `reply.header()`, else Node's `setHeader()`. */
function setHeader(response: unknown, name: string, value: string): void {
  const target = response as { header?: (n: string, v: string) => unknown; setHeader?: (n: string, v: string) => unknown } | null;
  if (typeof target?.header === 'function') target.header(name, value);
  else if (typeof target?.setHeader === 'function') target.setHeader(name, value);
}
