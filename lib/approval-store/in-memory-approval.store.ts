import { assertTtl } from './assert-ttl.js';
import type { ApprovalStore, WebhookClaim } from './approval-store.interface.js';

export interface InMemoryApprovalStoreOptions {
  /** Clock in ms since the epoch. Default `Date.now`; tests pass their own. */
  now?: () => number;
}

interface Entry {
  value: string;
  expiresAt: number;
}

/** Expired entries are dropped on writes at most this often, so memory stays bounded without a timer. */
const SWEEP_INTERVAL_MS = 60_000;
// Claims are stored as `claim:<token>`, so no token can pass for the done mark.
const DONE = 'done';

/**
 * The default store: state in this process only. Right for one replica (or tests); with several
 * replicas, or to survive restarts, use RedisApprovalStore. One instance per app unless you share it
 * on purpose. JavaScript runs each method to completion, so every operation is atomic here.
 */
export class InMemoryApprovalStore implements ApprovalStore {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private nextSweep: number;

  constructor(options: InMemoryApprovalStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.nextSweep = this.now() + SWEEP_INTERVAL_MS;
  }

  /** Live entries (approvals used plus webhook ids held), for tests and metrics. */
  get size(): number {
    const now = this.now();
    let live = 0;
    for (const entry of this.entries.values()) if (entry.expiresAt > now) live++;
    return live;
  }

  async consumeApproval(approvalId: string, ttl: number): Promise<boolean> {
    return this.setIfAbsent(`approval:${approvalId}`, '1', ttl);
  }

  async claimWebhook(webhookId: string, token: string, lease: number): Promise<WebhookClaim> {
    const key = `webhook:${webhookId}`;
    if (this.setIfAbsent(key, `claim:${token}`, lease)) return 'claimed';
    return this.get(key) === DONE ? 'done' : 'processing';
  }

  async completeWebhook(webhookId: string, ttl: number): Promise<void> {
    this.set(`webhook:${webhookId}`, DONE, ttl);
  }

  async releaseWebhook(webhookId: string, token: string): Promise<void> {
    const key = `webhook:${webhookId}`;
    if (this.get(key) === `claim:${token}`) this.entries.delete(key);
  }

  async close(): Promise<void> {
    this.entries.clear();
  }

  private get(key: string): string | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt > this.now()) return entry.value;
    this.entries.delete(key);
    return undefined;
  }

  private setIfAbsent(key: string, value: string, ttl: number): boolean {
    assertTtl(ttl);
    if (this.get(key) !== undefined) return false;
    this.set(key, value, ttl);
    return true;
  }

  private set(key: string, value: string, ttl: number): void {
    assertTtl(ttl);
    const now = this.now();
    if (now >= this.nextSweep) {
      for (const [k, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(k);
      this.nextSweep = now + SWEEP_INTERVAL_MS;
    }
    this.entries.set(key, { value, expiresAt: now + ttl });
  }
}
