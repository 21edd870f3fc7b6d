/** A value, or a function of the gated method's arguments (called with the instance as `this`). */
export type Resolvable<T> = T | ((...args: any[]) => T | Promise<T>); // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * `blocking` (default): the call waits for the decision (up to `timeout`), then runs or fails.
 * `async` (HTTP routes, GraphQL resolvers): the first request is answered `202` (GraphQL: an
 * `APPROVAL_PENDING` error) with the approval id at once; the client repeats it with the
 * `Sesame-Approval-Id` header until approved, and the handler runs then, once.
 * `deferred` (a BullMQ processor's `process(job)` only): the job waits for the decision in the queue,
 * delayed, holding no worker; the decision (webhook, or a re-check every `recheckInterval`) resumes it,
 * and `process` runs once approved. Denied or expired: the job fails without retries.
 */
export type ApprovalMode = 'blocking' | 'async' | 'deferred';

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
  /**
   * Where the broker POSTs the signed decision webhook (the app's `webhookPath`, as the broker reaches it).
   * Deferred mode: the webhook resumes the job at once; default: the module's `deferred.callbackUrl`.
   */
  callbackUrl?: Resolvable<string | undefined>;
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
   * Milliseconds to wait for a decision. Default: the module's `defaultTimeout` (5 minutes); deferred
   * mode: 24 hours. In async and deferred mode nothing waits: it only sets the default `expiresIn`.
   */
  timeout?: number;
  /**
   * Deferred mode: how long a job awaiting approval stays delayed before it looks at its approval again,
   * in ms, if no decision webhook resumed it first. Default: the module's `deferred.recheckInterval` (30 s).
   */
  recheckInterval?: number;
  /**
   * Milliseconds until the broker expires the approval. Default: the timeout plus one second in blocking mode
   * (nobody approves what no longer waits, and an undecided call ends as a timeout), the timeout in async and
   * deferred mode, where an approved request must be repeated (a job must run) before then.
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
