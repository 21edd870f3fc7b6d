/**
 * What a claim found:
 * - `claimed`: nobody held the key, or `token` already did; the caller holds it now and must `complete` or `release` it;
 * - `held`: another token holds it right now (maybe on another replica), until it completes, releases or its lease lapses;
 * - `done`: completed: the work it guards was done (an approval used, a webhook processed).
 */
export type ClaimOutcome = 'claimed' | 'held' | 'done';

/**
 * Shared state that makes approvals single-use and webhooks processed once, across restarts and
 * replicas. One mechanism for both: a key is claimed with a lease by one token, the lease can be
 * renewed while the work runs, and the claim is completed (kept `ttl` ms) or released. The gate uses
 * keys `approval:<id>`, the decision dispatcher `webhook:<id>`.
 *
 * Every method is one atomic operation (no read-then-write across round trips), so concurrent callers
 * on any number of replicas agree. Claiming again with the token that holds the key answers `claimed`,
 * so a caller that lost an answer can ask again. A method that cannot reach its backend rejects with
 * ApprovalStoreUnavailableError; callers then fail closed (nothing runs). Durations are milliseconds.
 *
 * `ApprovalStore` is also the injection token: `@Inject(ApprovalStore) store: ApprovalStore`.
 */
export interface ApprovalStore {
  /** Claims `key` for `token` for `lease` ms; see ClaimOutcome. */
  claim(key: string, token: string, lease: number): Promise<ClaimOutcome>;

  /** Extends the claim to `lease` ms from now while `token` holds it; false when it no longer does. */
  renew(key: string, token: string, lease: number): Promise<boolean>;

  /**
   * Marks `key` done for `ttl` ms if `token` holds it (or already completed it): later claims answer
   * `done`. False, and nothing written, when another token holds it or the claim lapsed.
   */
  complete(key: string, token: string, ttl: number): Promise<boolean>;

  /** Drops the claim, or the done mark, of `token` (nothing else), so the key can be claimed again. */
  release(key: string, token: string): Promise<void>;

  /**
   * Resolves when the backend answers, rejects (ApprovalStoreUnavailableError) when it does not: for health
   * checks (SesameHealthIndicator). Stores with no backend to reach (the in-memory one) leave it out.
   */
  ping?(): Promise<void>;

  /** Frees connections and timers. Called at app shutdown only for stores the module created itself. */
  close?(): Promise<void>;
}

/** Injection token of the module's ApprovalStore (same name as the interface, like ThrottlerStorage). */
export const ApprovalStore = Symbol('ApprovalStore');
