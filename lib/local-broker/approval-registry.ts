import { randomBytes } from 'node:crypto';
import type { ApprovalStatus } from '../client/approval.types.js';
import { NotFoundError, type TerminalStatus } from '../errors.js';
import { ApprovalAlreadyDecidedError, LocalBrokerStoppedError } from './local-broker.errors.js';
import type { CreateApprovalBody } from './request-validation.js';
import type { WireApproval } from './wire-approval.js';

/** A validated creation request (`expiresIn` in whole seconds, already range-checked), plus who asked. */
export interface NewApproval extends CreateApprovalBody {
  requesterLabel: string | null;
}

/** Who moved an approval to its terminal status. */
export type DecisionSource = 'http' | 'dashboard' | 'api' | 'policy' | 'expiry';

export interface DecisionDetail {
  note: string | null;
  source: DecisionSource;
}

export interface RegistryHooks {
  /** Called synchronously with the registry's own record: copy before handing it out. */
  onCreated(approval: WireApproval): void;
  onDecided(approval: WireApproval, detail: DecisionDetail): void;
  /** The number of held waits changed; `held` is the new total. */
  onWaitersChanged?(held: number): void;
}

interface Waiter {
  timer: NodeJS.Timeout;
  done: (approval: WireApproval) => void;
}

interface Entry {
  approval: WireApproval;
  expiresAtMs: number;
  expiryTimer: NodeJS.Timeout | undefined;
  /** Held waits on this approval; created lazily, dropped once decided. */
  waiters: Set<Waiter> | undefined;
}

/**
 * The local broker's in-memory approvals: creation with dedup, decisions, expiry and waiters.
 *
 * Built to hold many thousands of pending approvals and waits at once: each approval has one expiry
 * timer and a set of waiters that a decision releases directly (no polling anywhere); each waiter has
 * one timeout, cleared as soon as it is released or cancelled. For development, demos and tests only:
 * nothing is persisted.
 */
export class ApprovalRegistry {
  private readonly entries = new Map<string, Entry>();
  private readonly byDedupKey = new Map<string, Entry>();
  private pending = 0;
  private waiting = 0;
  private closed = false;

  constructor(
    private readonly hooks: RegistryHooks,
    private readonly now: () => number = Date.now,
  ) {}

  get pendingCount(): number {
    return this.pending;
  }

  /** Waits currently held (long-polls included). */
  get waiterCount(): number {
    return this.waiting;
  }

  /**
   * Creates an approval, or returns the existing one when `dedupKey` matches an approval whose
   * `expires_at` is still in the future (whatever its status): `created` tells which happened.
   */
  create(input: NewApproval): { approval: WireApproval; created: boolean } {
    this.assertOpen();
    const now = this.now();
    if (input.dedupKey !== null) {
      const existing = this.byDedupKey.get(input.dedupKey);
      if (existing) {
        this.refresh(existing, now);
        if (existing.expiresAtMs > now) return { approval: existing.approval, created: false };
      }
    }
    const expiresAtMs = now + input.expiresIn * 1000;
    const approval: WireApproval = {
      id: newApprovalId(),
      action: input.action,
      summary: input.summary,
      reason: input.reason,
      context: input.context,
      status: 'pending',
      created_at: new Date(now).toISOString(),
      expires_at: new Date(expiresAtMs).toISOString(),
      decided_at: null,
      requester_label: input.requesterLabel,
      dedup_key: input.dedupKey,
      callback_url: input.callbackUrl,
    };
    const entry: Entry = { approval, expiresAtMs, expiryTimer: undefined, waiters: undefined };
    entry.expiryTimer = setTimeout(() => this.expireEntry(entry), input.expiresIn * 1000);
    entry.expiryTimer.unref();
    this.entries.set(approval.id, entry);
    if (input.dedupKey !== null) this.byDedupKey.set(input.dedupKey, entry);
    this.pending++;
    this.hooks.onCreated(approval);
    return { approval, created: true };
  }

  /** The registry's own record (do not mutate), or undefined. */
  get(id: string): WireApproval | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    this.refresh(entry, this.now());
    return entry.approval;
  }

  /** Newest first, optionally only one status. */
  list(status?: ApprovalStatus): WireApproval[] {
    const now = this.now();
    const result: WireApproval[] = [];
    for (const entry of this.entries.values()) {
      this.refresh(entry, now);
      if (status === undefined || entry.approval.status === status) result.push(entry.approval);
    }
    return result.reverse();
  }

  /** Oldest first: every approval, for scanning. */
  *all(): IterableIterator<WireApproval> {
    for (const entry of this.entries.values()) yield entry.approval;
  }

  /** Approves or denies a pending approval. Throws NotFoundError / ApprovalAlreadyDecidedError. */
  decide(id: string, status: 'approved' | 'denied', detail: DecisionDetail): WireApproval {
    this.assertOpen();
    const entry = this.pendingEntry(id);
    return this.settle(entry, status, this.now(), detail);
  }

  /** Expires a pending approval now (its `expires_at` and `decided_at` become now). */
  expireNow(id: string, detail: DecisionDetail): WireApproval {
    this.assertOpen();
    const entry = this.pendingEntry(id);
    const now = this.now();
    entry.expiresAtMs = now;
    entry.approval.expires_at = new Date(now).toISOString();
    return this.settle(entry, 'expired', now, detail);
  }

  /**
   * Calls `done` once: with the decided approval as soon as it is decided, or with the still-pending
   * approval after `timeoutMs`. The caller checks the approval is pending first.
   * Returns a cancel function (idempotent; a no-op once `done` ran).
   */
  wait(id: string, timeoutMs: number, done: (approval: WireApproval) => void): () => void {
    this.assertOpen();
    const entry = this.entries.get(id);
    if (!entry) throw new NotFoundError(id);
    if (entry.approval.status !== 'pending') {
      done(entry.approval);
      return () => undefined;
    }
    const waiters = (entry.waiters ??= new Set());
    const waiter: Waiter = {
      done,
      timer: setTimeout(() => {
        if (waiters.delete(waiter)) this.changeWaiting(-1);
        done(entry.approval);
      }, timeoutMs),
    };
    waiter.timer.unref();
    waiters.add(waiter);
    this.changeWaiting(1);
    return () => {
      clearTimeout(waiter.timer);
      if (waiters.delete(waiter)) this.changeWaiting(-1);
    };
  }

  /** Clears every timer and drops every waiter without calling it. The registry refuses changes afterwards. */
  close(): void {
    this.closed = true;
    for (const entry of this.entries.values()) {
      if (entry.expiryTimer) clearTimeout(entry.expiryTimer);
      entry.expiryTimer = undefined;
      for (const waiter of entry.waiters ?? []) clearTimeout(waiter.timer);
      entry.waiters?.clear(); // later cancels (sockets closing) then find nothing to count down
      entry.waiters = undefined;
    }
    this.waiting = 0;
  }

  private changeWaiting(delta: number): void {
    this.waiting += delta;
    this.hooks.onWaitersChanged?.(this.waiting);
  }

  private pendingEntry(id: string): Entry {
    const entry = this.entries.get(id);
    if (!entry) throw new NotFoundError(id);
    this.refresh(entry, this.now());
    if (entry.approval.status !== 'pending') {
      throw new ApprovalAlreadyDecidedError(id, entry.approval.status as TerminalStatus);
    }
    return entry;
  }

  /** Lazy expiry, in case a timer is late (a blocked event loop): reads never show a stale `pending`. */
  private refresh(entry: Entry, now: number): void {
    if (entry.approval.status === 'pending' && entry.expiresAtMs <= now && !this.closed) this.expireEntry(entry);
  }

  private expireEntry(entry: Entry): void {
    if (entry.approval.status !== 'pending' || this.closed) return;
    this.settle(entry, 'expired', entry.expiresAtMs, { note: null, source: 'expiry' });
  }

  private settle(entry: Entry, status: TerminalStatus, atMs: number, detail: DecisionDetail): WireApproval {
    const { approval } = entry;
    approval.status = status;
    approval.decided_at = new Date(atMs).toISOString();
    this.pending--;
    if (entry.expiryTimer) clearTimeout(entry.expiryTimer);
    entry.expiryTimer = undefined;
    const waiters = entry.waiters;
    entry.waiters = undefined;
    if (waiters) {
      this.changeWaiting(-waiters.size);
      const released = [...waiters];
      waiters.clear();
      for (const waiter of released) {
        clearTimeout(waiter.timer);
        waiter.done(approval);
      }
    }
    this.hooks.onDecided(approval, detail);
    return approval;
  }

  private assertOpen(): void {
    if (this.closed) throw new LocalBrokerStoppedError();
  }
}

function newApprovalId(): string {
  return `apr_${randomBytes(12).toString('hex')}`;
}
