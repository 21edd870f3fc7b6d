import type { LoggerService } from '@nestjs/common';
import {
  ApprovalAborted,
  ApprovalDenied,
  ApprovalTimeout,
  BrokerProtocolError,
  BrokerUnavailableError,
  NotFoundError,
  SesameAuthError,
  SesameClientClosedError,
  type ApprovalError,
} from '../errors.js';
import { ApprovalStoreUnavailableError } from '../approval-store/approval-store.errors.js';
import {
  ApprovalAlreadyUsedError,
  ApprovalCapacityError,
  ApprovalInUseError,
  ApprovalMismatchError,
  ApprovalPending,
  ApprovalPolicyDenied,
  InvalidApprovalIdHeaderError,
} from './approval-gate.errors.js';

const SILENT: LoggerService = { log: () => undefined, error: () => undefined, warn: () => undefined };

/** Status for a call whose client left before the decision: nobody reads it, but logs should say so. */
const CLIENT_CLOSED_REQUEST = 499;

/**
 * What an approval outcome tells the caller, whatever the transport: the one table every transport
 * answers from (README "Errors"). `message` is safe to send: it never carries a secret or a cause.
 */
export interface ApprovalOutcome {
  /** The HTTP status a REST route answers with. */
  status: number;
  /** snake_case, as in the HTTP bodies: `approval_denied`, `approval_timeout`, ... */
  code: string;
  message: string;
  approvalId?: string;
  /** The approval's state: `denied` or `expired` (refused), `pending` (timeout, async pending). */
  approvalStatus?: 'denied' | 'expired' | 'pending';
  /** `approval_policy_denied`: the policy's reason. */
  reason?: string;
  /** When asking again can help, in ms (async pending, approval in use). */
  retryAfterMs?: number;
  /** Async pending: when the approval expires (ISO 8601), or null. */
  expiresAt?: string | null;
}

/**
 * The outcome of an approval error. What the operator must see (a broker or store down, a
 * misconfigured gate) is logged to `logger`, once, with the detail the caller does not get; without
 * one, nothing is logged (for a second reader of the same outcome).
 */
export function approvalOutcome(error: ApprovalError, logger: LoggerService = SILENT): ApprovalOutcome {
  if (error instanceof ApprovalPending) {
    return {
      status: 202,
      code: 'approval_pending',
      message: 'Waiting for a human to approve. Repeat this request with the Sesame-Approval-Id header after Retry-After seconds.',
      approvalId: error.approvalId,
      approvalStatus: 'pending',
      retryAfterMs: error.retryAfter,
      expiresAt: error.expiresAt?.toISOString() ?? null,
    };
  }
  if (error instanceof ApprovalPolicyDenied) {
    return { status: 403, code: 'approval_policy_denied', message: 'The approval policy refused this call; nothing was asked or run.', reason: error.reason };
  }
  if (error instanceof ApprovalMismatchError) return { status: 403, code: error.code, message: error.message, approvalId: error.approvalId };
  if (error instanceof ApprovalAlreadyUsedError) return { status: 409, code: 'approval_already_used', message: error.message, approvalId: error.approvalId };
  if (error instanceof ApprovalInUseError) {
    return { status: 409, code: 'approval_in_use', message: error.message, approvalId: error.approvalId, retryAfterMs: error.retryAfter };
  }
  if (error instanceof ApprovalCapacityError) {
    logger.warn(error.message);
    return { status: 503, code: 'approval_capacity_exceeded', message: 'Too many approvals are pending on this server; nothing was run. Retry later.' };
  }
  if (error instanceof InvalidApprovalIdHeaderError) return { status: 400, code: 'approval_id_invalid', message: error.message };
  if (error instanceof ApprovalStoreUnavailableError) {
    logger.error(`Approval gate failed closed: ${error.message}`);
    return { status: 503, code: 'approval_store_unavailable', message: 'The approval store is unavailable; nothing was run. Retry later.' };
  }
  if (error instanceof ApprovalDenied) {
    return { status: 403, code: 'approval_' + error.status, message: error.message, approvalId: error.approvalId, approvalStatus: error.status };
  }
  if (error instanceof ApprovalTimeout) {
    return { status: 504, code: 'approval_timeout', message: error.message, approvalId: error.approvalId, approvalStatus: 'pending' };
  }
  if (error instanceof BrokerUnavailableError) {
    logger.error(error.message);
    return { status: 503, code: 'approval_broker_unavailable', message: 'The approval service is unavailable; nothing was run. Retry later.' };
  }
  if (error instanceof ApprovalAborted && error.cause instanceof SesameClientClosedError) {
    return { status: 503, code: 'approval_aborted_shutdown', message: 'The server is shutting down; nothing was run. Retry later.' };
  }
  if (error instanceof ApprovalAborted) {
    return { status: CLIENT_CLOSED_REQUEST, code: 'approval_aborted', message: 'The client disconnected before the decision; nothing was run.' };
  }
  if (error instanceof BrokerProtocolError || error instanceof NotFoundError) {
    logger.error(`Approval broker answered unexpectedly: ${error.message}`);
    return { status: 502, code: 'approval_broker_error', message: 'The approval service answered unexpectedly; nothing was run.' };
  }
  // SesameAuthError, ApprovalGateNotBoundError, RequestRejectedError, SesameConfigError, AsyncApprovalContextError,
  // ApprovalBindingError, ApprovalConditionError: our side is misconfigured.
  const hint = error instanceof SesameAuthError ? ' Check SESAME_API_KEY.' : '';
  const stack = causeStack(error);
  if (stack === undefined) logger.error(`Approval gate failed closed: ${error.message}${hint}`);
  else logger.error(`Approval gate failed closed: ${error.message}${hint}`, stack);
  return { status: 500, code: 'approval_gate_error', message: 'The approval gate is misconfigured; nothing was run.' };
}

/** A thrown `when` or policy is the user's own bug: its stack is what they need (it stays in the log). */
function causeStack(error: ApprovalError): string | undefined {
  return error.cause instanceof Error ? error.cause.stack : undefined;
}
