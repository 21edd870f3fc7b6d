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
 * The approval found does not approve this call: an unknown `Sesame-Approval-Id`, another action's
 * approval, or one bound to other arguments or another user, or whose content (summary, reason,
 * context) is not what this call shows the human. Any mode. Answered 403; nothing ran.
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

/** The approval was already used to run its call once (here or on another replica), in any mode. Answered 409; nothing ran. */
export class ApprovalAlreadyUsedError extends ApprovalError {
  constructor(readonly approvalId: string) {
    super(
      `Approval ${approvalId} was already used: an approval runs its call once. Ask again for a new approval (async mode: repeat the request without the Sesame-Approval-Id header).`,
    );
  }
}

/**
 * Another attempt holds the approval's single use this instant (it runs at most once), or an earlier
 * attempt claimed it while the approval store failed and could not confirm or undo the claim. Nothing
 * ran here. Answered 409 with `Retry-After`: after it, the call runs if that attempt did not run it,
 * else the answer is `409 approval_already_used`.
 */
export class ApprovalInUseError extends ApprovalError {
  constructor(
    readonly approvalId: string,
    /** When asking again can tell the outcome, in ms. */
    readonly retryAfter: number,
  ) {
    super(`Approval ${approvalId} is being used by another attempt right now; nothing ran. Retry later to learn the outcome.`);
  }
}

/** This process already waits on `maxPendingApprovals` blocking approvals. Answered 503; nothing was asked or run. */
export class ApprovalCapacityError extends ApprovalError {
  constructor(readonly limit: number) {
    super(`Too many approvals pending in this process (maxPendingApprovals = ${limit}); nothing was asked or run. Retry later.`);
  }
}

/** Async mode: the `Sesame-Approval-Id` request header is malformed (empty, repeated, too long). Answered 400. */
export class InvalidApprovalIdHeaderError extends ApprovalError {
  constructor(detail: string) {
    super(`Invalid Sesame-Approval-Id header: ${detail}`);
  }
}

/**
 * A method gated with `mode: 'async'` was called where no client can repeat the call with the approval
 * id: outside an HTTP request or GraphQL operation (a plain service call, a job, a microservice or
 * WebSocket handler). There is no one to answer 202 to, so it fails closed and did not run.
 */
export class AsyncApprovalContextError extends ApprovalError {
  constructor(
    readonly className: string,
    readonly methodName: string,
  ) {
    super(
      `${className}.${methodName}() is gated with mode 'async', which answers 202 and reads the Sesame-Approval-Id header of an HTTP request ` +
        'or GraphQL operation, but it was called outside one, so it did not run. Call it from a gated route or resolver, from any route with ' +
        "SesameModule.forRoot({ requestContext: 'all-routes' }), or use the default mode ('blocking').",
    );
  }
}

/**
 * An approval another call may find (async mode, or a `dedupKey`) is bound to the method's arguments and
 * user; these could not be turned into stable data (an `@Req()`/`@Res()` object, a function, a cycle),
 * or the user has no id. Fails closed: the method did not run.
 */
export class ApprovalBindingError extends ApprovalError {
  constructor(
    readonly className: string,
    readonly methodName: string,
    detail: string,
  ) {
    super(
      `${className}.${methodName}() shares its approval with identical calls (mode 'async', or a dedupKey), which binds it to the method's arguments and user, but ${detail}. ` +
        'Gate a method whose arguments are data (@Body(), @Param(), @Query() values), or use the blocking mode without a dedupKey.',
    );
  }
}

/**
 * The module's ApprovalPolicy refused the call (`{ deny: reason }`): nothing was asked of a human and
 * nothing ran. Answered 403 `approval_policy_denied` with the reason.
 */
export class ApprovalPolicyDenied extends ApprovalError {
  constructor(
    readonly action: string,
    readonly reason: string,
  ) {
    super(`The approval policy refused ${action}: ${reason}`);
  }
}

/**
 * A `when` predicate or the module's ApprovalPolicy threw, or answered something that is not a decision:
 * the gate cannot tell whether a human must approve, so nothing ran. Answered as the gate's
 * misconfiguration (500 `approval_gate_error`); the cause is logged, never sent.
 */
export class ApprovalConditionError extends ApprovalError {
  constructor(
    readonly className: string,
    readonly methodName: string,
    detail: string,
    cause?: unknown,
  ) {
    super(`${className}.${methodName}(): ${detail}, so it did not run`, { cause });
  }
}

/**
 * A gated handler (route, resolver, message or socket handler) cannot tell which call it runs for: it
 * runs in the async context of another request, or of one that already ran it, or Nest ran it without
 * the gate's interceptor (a @ResolveField without `fieldResolverEnhancers`), or it was called as a
 * function. Fails closed (500 `approval_gate_error`): it did not run.
 */
export class ApprovalHandlerContextError extends ApprovalError {
  constructor(
    readonly className: string,
    readonly methodName: string,
    detail: string,
  ) {
    super(`${className}.${methodName}() ${detail}, so it did not run`);
  }
}
