import { ApprovalError } from '../errors.js';

/**
 * Async mode: the approval is not decided yet. Not a failure: the interceptor answers `202 Accepted`
 * with the approval id (body and `Sesame-Approval-Id` header) and `Retry-After`; the handler did not run.
 */
export class ApprovalPending extends ApprovalError {
  constructor(
    readonly approvalId: string,
    readonly expiresAt: Date | null,
    /** When the client should ask again, in ms. */
    readonly retryAfter: number,
  ) {
    super(`Approval ${approvalId} is pending: repeat the request with the Sesame-Approval-Id header`);
  }
}

export type ApprovalMismatchCode = 'approval_not_found' | 'approval_action_mismatch' | 'approval_mismatch';

/**
 * Async mode: the `Sesame-Approval-Id` presented does not approve this request: unknown id, another
 * action's approval, or one created for other arguments or another user. Answered 403; nothing ran.
 */
export class ApprovalMismatchError extends ApprovalError {
  constructor(
    readonly code: ApprovalMismatchCode,
    readonly approvalId: string,
    message: string,
  ) {
    super(message);
  }
}

/** Async mode: the approval was already used to run its request once (here or on another replica). Answered 409. */
export class ApprovalAlreadyUsedError extends ApprovalError {
  constructor(readonly approvalId: string) {
    super(`Approval ${approvalId} was already used: an approval runs its request once. Repeat the request without the Sesame-Approval-Id header to ask again.`);
  }
}

/** Async mode: the `Sesame-Approval-Id` request header is malformed (empty, repeated, too long). Answered 400. */
export class InvalidApprovalIdHeaderError extends ApprovalError {
  constructor(detail: string) {
    super(`Invalid Sesame-Approval-Id header: ${detail}`);
  }
}

/**
 * A method gated with `mode: 'async'` was called outside an HTTP request (a plain service call, a
 * job, a microservice handler): there is no client to answer 202 to, so it fails closed and did not run.
 */
export class AsyncApprovalContextError extends ApprovalError {
  constructor(
    readonly className: string,
    readonly methodName: string,
  ) {
    super(
      `${className}.${methodName}() is gated with mode 'async', which answers 202 and reads the Sesame-Approval-Id header of an HTTP request, ` +
        "but it was called outside one, so it did not run. Call it while handling an HTTP request, or use the default mode ('blocking').",
    );
  }
}

/**
 * Async mode binds the approval to the handler's arguments; these could not be turned into stable data
 * (an `@Req()`/`@Res()` object, a function, a cycle). Fails closed: the method did not run.
 */
export class ApprovalBindingError extends ApprovalError {
  constructor(
    readonly className: string,
    readonly methodName: string,
    detail: string,
  ) {
    super(
      `${className}.${methodName}() is gated with mode 'async', which binds the approval to the method's arguments, but ${detail}. ` +
        'Gate a method whose arguments are data (@Body(), @Param(), @Query() values), or use the blocking mode.',
    );
  }
}
