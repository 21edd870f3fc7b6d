import { assertTtl } from './assert-ttl.js';
import type { ApprovalStore, ClaimOutcome } from './approval-store.interface.js';

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
// Values are `claim:<token>` or `done:<token>`: whatever a token is, it cannot pass for the other state.

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

  /** Live entries (claims and done marks), for tests and metrics. */
  get size(): number {
    const now = this.now();
    let live = 0;
    for (const entry of this.entries.values()) if (entry.expiresAt > now) live++;
    return live;
  }

  async claim(key: string, token: string, lease: number): Promise<ClaimOutcome> {
    assertTtl(lease);
    const value = this.get(key);
    if (value === undefined || value === `claim:${token}`) {
      this.set(key, `claim:${token}`, lease);
      return 'claimed';
    }
    return value.startsWith('done:') ? 'done' : 'held';
  }

  async renew(key: string, token: string, lease: number): Promise<boolean> {
    assertTtl(lease);
    if (this.get(key) !== `claim:${token}`) return false;
    this.set(key, `claim:${token}`, lease);
    return true;
  }

  async complete(key: string, token: string, ttl: number): Promise<boolean> {
    assertTtl(ttl);
    const value = this.get(key);
    if (value !== `claim:${token}` && value !== `done:${token}`) return false;
    this.set(key, `done:${token}`, ttl);
    return true;
  }

  async release(key: string, token: string): Promise<void> {
    const value = this.get(key);
    if (value === `claim:${token}` || value === `done:${token}`) this.entries.delete(key);
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
