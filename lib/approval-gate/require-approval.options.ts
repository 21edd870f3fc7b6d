/** A value, or a function of the gated method's arguments (called with the instance as `this`). */
export type Resolvable<T> = T | ((...args: any[]) => T | Promise<T>); // eslint-disable-line @typescript-eslint/no-explicit-any

export interface RequireApprovalOptions {
  /** What the human reads. Default: built from the action, class and method names. */
  summary?: Resolvable<string>;
  reason?: Resolvable<string | undefined>;
  context?: Resolvable<Record<string, unknown> | undefined>;
  /** Calls with the same key while the approval is open share one approval (and one decision). */
  dedupKey?: Resolvable<string | undefined>;
  /** Milliseconds to wait for a decision. Default: the module's `defaultTimeout` (5 minutes). */
  timeout?: number;
  /** Milliseconds until the broker expires the approval. Default: the timeout, so nobody approves what no longer waits. */
  expiresIn?: number;
}

/** What @RequireApproval records on a method or class. */
export interface RequireApprovalMetadata extends RequireApprovalOptions {
  action: string;
}

export const REQUIRE_APPROVAL_METADATA = 'sesame:require-approval';
export const SKIP_APPROVAL_METADATA = 'sesame:skip-approval';
