import { ApprovalError } from '../errors.js';
import type { TerminalStatus } from '../protocol/approval-status.js';

/** `approve()` / `deny()` / `expire()` on an approval that is no longer pending (HTTP 409 `already_decided`). */
export class ApprovalAlreadyDecidedError extends ApprovalError {
  readonly code = 'already_decided';
  constructor(
    readonly approvalId: string,
    readonly currentStatus: TerminalStatus,
  ) {
    super(`Approval ${approvalId} is already ${currentStatus}`);
  }
}

/** `waitForApproval()` (or `waitForHeldWaits()`) saw nothing matching in time. */
export class WaitForApprovalTimeoutError extends ApprovalError {
  constructor(
    readonly timeoutMs: number,
    what = 'approval matching the predicate',
  ) {
    super(`No ${what} within ${timeoutMs} ms`);
  }
}

/** The local broker was stopped (or is stopping): the call cannot be served. */
export class LocalBrokerStoppedError extends ApprovalError {
  constructor() {
    super('The local broker is stopped');
  }
}
