import { HttpException, HttpStatus, type LoggerService } from '@nestjs/common';
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

/** Status for a request whose client left before the decision: nobody reads it, but logs should say so. */
const CLIENT_CLOSED_REQUEST = 499;

/**
 * The HTTP answer to an approval outcome (docs: README "Errors"), shared by the gated-route
 * interceptor and the exception filter so both answer alike. Anything that is not an ApprovalError
 * passes through untouched.
 */
export function approvalHttpException(error: unknown, logger: LoggerService): unknown {
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
    logger.warn(error.message);
    return httpError(HttpStatus.SERVICE_UNAVAILABLE, 'approval_capacity_exceeded', 'Too many approvals are pending on this server; nothing was run. Retry later.');
  }
  if (error instanceof InvalidApprovalIdHeaderError) {
    return httpError(HttpStatus.BAD_REQUEST, 'approval_id_invalid', error.message);
  }
  if (error instanceof ApprovalStoreUnavailableError) {
    logger.error(`Approval gate failed closed: ${error.message}`);
    return httpError(HttpStatus.SERVICE_UNAVAILABLE, 'approval_store_unavailable', 'The approval store is unavailable; nothing was run. Retry later.');
  }
  if (error instanceof ApprovalDenied) {
    return httpError(HttpStatus.FORBIDDEN, 'approval_' + error.status, error.message, { approvalId: error.approvalId, status: error.status });
  }
  if (error instanceof ApprovalTimeout) {
    return httpError(HttpStatus.GATEWAY_TIMEOUT, 'approval_timeout', error.message, { approvalId: error.approvalId, status: 'pending' });
  }
  if (error instanceof BrokerUnavailableError) {
    logger.error(error.message);
    return httpError(HttpStatus.SERVICE_UNAVAILABLE, 'approval_broker_unavailable', 'The approval service is unavailable; nothing was run. Retry later.');
  }
  if (error instanceof ApprovalAborted && error.cause instanceof SesameClientClosedError) {
    return httpError(HttpStatus.SERVICE_UNAVAILABLE, 'approval_aborted_shutdown', 'The server is shutting down; nothing was run. Retry later.');
  }
  if (error instanceof ApprovalAborted) {
    return httpError(CLIENT_CLOSED_REQUEST, 'approval_aborted', 'The client disconnected before the decision; nothing was run.');
  }
  if (error instanceof BrokerProtocolError || error instanceof NotFoundError) {
    logger.error(`Approval broker answered unexpectedly: ${error.message}`);
    return httpError(HttpStatus.BAD_GATEWAY, 'approval_broker_error', 'The approval service answered unexpectedly; nothing was run.');
  }
  // SesameAuthError, ApprovalGateNotBoundError, RequestRejectedError, SesameConfigError, AsyncApprovalContextError,
  // ApprovalBindingError: our side is misconfigured.
  const hint = error instanceof SesameAuthError ? ' Check SESAME_API_KEY.' : '';
  logger.error(`Approval gate failed closed: ${error.message}${hint}`);
  return httpError(HttpStatus.INTERNAL_SERVER_ERROR, 'approval_gate_error', 'The approval gate is misconfigured; nothing was run.');
}

/**
 * The headers an approval outcome carries: `Sesame-Approval-Id` and `Retry-After` (whole seconds) on a
 * pending 202, which no cache may keep; `Retry-After` on a 409 approval_in_use.
 */
export function setApprovalHeaders(response: unknown, error: unknown): void {
  if (error instanceof ApprovalPending) {
    setHeader(response, SESAME_APPROVAL_ID_HEADER, error.approvalId);
    setRetryAfter(response, error.retryAfter);
    setHeader(response, 'Cache-Control', 'no-store');
  } else if (error instanceof ApprovalInUseError) {
    setRetryAfter(response, error.retryAfter);
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
