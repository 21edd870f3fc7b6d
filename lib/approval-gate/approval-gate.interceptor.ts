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
} from '../errors.js';
import { ApprovalRequestContext } from './approval-request.context.js';

/** Status for a request whose client left before the decision: nobody reads it, but logs should say so. */
const CLIENT_CLOSED_REQUEST = 499;

/**
 * Registered app-wide by SesameModule. It does not decide anything: it lets gates called during an
 * HTTP request stop when the client disconnects, and turns approval outcomes into HTTP answers
 * (also for gated service methods called from an ungated route). Subclass to change the mapping.
 */
@Injectable()
export class ApprovalGateInterceptor implements NestInterceptor {
  protected readonly logger = new Logger('SesameApproval');

  constructor(private readonly requestContext: ApprovalRequestContext) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const scope = ApprovalRequestContext.scopeFor(context.switchToHttp().getResponse());
    if (!scope) return next.handle();
    return new Observable<unknown>((subscriber) => this.requestContext.run(scope, () => next.handle().subscribe(subscriber))).pipe(
      catchError((error: unknown) => throwError(() => this.toHttpException(error))),
    );
  }

  /** Maps approval errors to HTTP; anything else passes through untouched. */
  protected toHttpException(error: unknown): unknown {
    if (!(error instanceof ApprovalError)) return error;
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
    if (error instanceof ApprovalAborted) {
      return httpError(CLIENT_CLOSED_REQUEST, 'approval_aborted', 'The client disconnected before the decision; nothing was run.');
    }
    if (error instanceof BrokerProtocolError || error instanceof NotFoundError) {
      this.logger.error(`Approval broker answered unexpectedly: ${error.message}`);
      return httpError(HttpStatus.BAD_GATEWAY, 'approval_broker_error', 'The approval service answered unexpectedly; nothing was run.');
    }
    // SesameAuthError, ApprovalGateNotBoundError, RequestRejectedError, SesameConfigError: our side is misconfigured.
    const hint = error instanceof SesameAuthError ? ' Check SESAME_API_KEY.' : '';
    this.logger.error(`Approval gate failed closed: ${error.message}${hint}`);
    return httpError(HttpStatus.INTERNAL_SERVER_ERROR, 'approval_gate_error', 'The approval gate is misconfigured; nothing was run.');
  }
}

function httpError(status: number, code: string, message: string, extra: Record<string, unknown> = {}): HttpException {
  return new HttpException({ statusCode: status, code, message, ...extra }, status);
}
