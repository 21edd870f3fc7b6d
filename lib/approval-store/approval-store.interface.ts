/**
 * What a webhook claim found:
 * - `claimed`: nobody processed this id yet; the caller now holds it and must `complete` or `release` it;
 * - `processing`: another request (maybe on another replica) holds it right now;
 * - `done`: already processed: answer 2xx without running anything.
 */
export type WebhookClaim = 'claimed' | 'processing' | 'done';

/**
 * Shared state that makes approvals durable across restarts and replicas: which approvals were used
 * (single use) and which decision webhooks were processed. Every method is one atomic operation
 * (no read-then-write), so concurrent callers on any number of replicas agree.
 *
 * A method that cannot reach its backend rejects with ApprovalStoreUnavailableError; callers then fail
 * closed (nothing runs). Durations are milliseconds.
 *
 * `ApprovalStore` is also the injection token: `@Inject(ApprovalStore) store: ApprovalStore`.
 */
export interface ApprovalStore {
  /**
   * Marks the approval used and resolves true, for exactly one caller; every later (or concurrent)
   * caller gets false. The mark is kept `ttl` ms.
   */
  consumeApproval(approvalId: string, ttl: number): Promise<boolean>;

  /**
   * Claims a webhook id for processing with a lease of `lease` ms, identified by `token`. A claim
   * whose holder crashed lapses with its lease, so a later redelivery can claim it again.
   */
  claimWebhook(webhookId: string, token: string, lease: number): Promise<WebhookClaim>;

  /** Records the webhook id as processed for `ttl` ms: later claims answer `done`. */
  completeWebhook(webhookId: string, ttl: number): Promise<void>;

  /** Drops the claim if `token` still holds it, so a redelivery processes the webhook again. */
  releaseWebhook(webhookId: string, token: string): Promise<void>;

  /** Frees connections and timers. Called at app shutdown only for stores the module created itself. */
  close?(): Promise<void>;
}

/** Injection token of the module's ApprovalStore (same name as the interface, like ThrottlerStorage). */
export const ApprovalStore = Symbol('ApprovalStore');
