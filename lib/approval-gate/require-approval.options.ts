/** A value, or a function of the gated method's arguments (called with the instance as `this`). */
export type Resolvable<T> = T | ((...args: any[]) => T | Promise<T>); // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * `blocking` (default): the call waits for the decision (up to `timeout`), then runs or fails.
 * `async` (HTTP routes, GraphQL resolvers): the first request is answered `202` (GraphQL: an
 * `APPROVAL_PENDING` error) with the approval id at once; the client repeats it with the
 * `Sesame-Approval-Id` header until approved, and the handler runs then, once.
 */
export type ApprovalMode = 'blocking' | 'async';

export interface RequireApprovalOptions {
  /** Default `blocking`. See ApprovalMode. */
  mode?: ApprovalMode;
  /**
   * Whether this call needs a human: called with the method's arguments (validated, for handlers) and the
   * instance as `this`, sync or async. `true`: ask; `false`: run at once, with no approval (logged at debug
   * level). If it throws or answers anything else, nothing runs (500 `approval_gate_error`). The module's
   * ApprovalPolicy, if any, decides first: only its `'ask'` reaches `when`.
   */
  when?: (...args: any[]) => boolean | Promise<boolean>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** What the human reads. Default: built from the action, class and method names. */
  summary?: Resolvable<string>;
  reason?: Resolvable<string | undefined>;
  context?: Resolvable<Record<string, unknown> | undefined>;
  /**
   * Calls with the same key while the approval is open share one approval (and one decision).
   * Not with `mode: 'async'`, which derives the key from the action, the arguments and the user.
   */
  dedupKey?: Resolvable<string | undefined>;
  /**
   * Milliseconds to wait for a decision. Default: the module's `defaultTimeout` (5 minutes).
   * In async mode nothing waits: it only sets the default `expiresIn`.
   */
  timeout?: number;
  /**
   * Milliseconds until the broker expires the approval. Default: the timeout plus one second in blocking mode
   * (nobody approves what no longer waits, and an undecided call ends as a timeout), the timeout in async mode,
   * where an approved request must be repeated before then.
   */
  expiresIn?: number;
  /** Async mode: the `Retry-After` a `202` suggests, in ms (sent in whole seconds). Default 5_000. */
  retryAfter?: number;
}

/** What @RequireApproval records on a method or class. */
export interface RequireApprovalMetadata extends RequireApprovalOptions {
  action: string;
}

export const REQUIRE_APPROVAL_METADATA = 'sesame:require-approval';
export const SKIP_APPROVAL_METADATA = 'sesame:skip-approval';
