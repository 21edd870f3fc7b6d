import { randomBytes } from 'node:crypto';
import { NotFoundError } from '../errors.js';
import type { ApprovalStatus, TerminalStatus } from '../protocol/approval-status.js';
import type { WireApproval } from '../protocol/wire-approval.js';
import { formatWireTimestamp } from '../protocol/wire-timestamp.js';
import { ApprovalAlreadyDecidedError, LocalBrokerStoppedError } from './local-broker.errors.js';
import type { CreateApprovalBody } from './request-validation.js';

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
  /** Creation order, from 1: what list cursors point at (an id would vanish with its approval). */
  position: number;
  /** Index in the registry's `slots`; updated when they are compacted. */
  slot: number;
  expiresAtMs: number;
  expiryTimer: NodeJS.Timeout | undefined;
  /** Held waits on this approval; created lazily, dropped once decided. */
  waiters: Set<Waiter> | undefined;
  /** When it left pending (registry clock): the start of its retention. */
  settledAtMs: number;
}

/** How long decided/expired approvals are kept. Pending approvals are never evicted. */
export interface RetentionPolicy {
  /** Evict a decided/expired approval this many ms after it left pending (`Infinity`: never by age). */
  maxAgeMs: number;
  /** Keep at most this many decided/expired approvals; the earliest decided go first (`Infinity`: no cap). */
  maxCount: number;
}

export interface ApprovalPage {
  /** Newest first. */
  approvals: WireApproval[];
  /** Position of the last approval returned when more match after it; null on the last page. */
  next: number | null;
}

/** setTimeout's longest delay; a longer retention simply re-arms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The local broker's in-memory approvals: creation with dedup, decisions, expiry and waiters.
 *
 * Built to hold many thousands of pending approvals and waits at once: each approval has one expiry
 * timer and a set of waiters that a decision releases directly (no polling anywhere); each waiter has
 * one timeout, cleared as soon as it is released or cancelled. For development, demos and tests only:
 * nothing is persisted.
 *
 * Memory is bounded by the retention policy: decided/expired approvals are evicted by age and count
 * (one timer for the whole registry, plus a sweep on every read), after which they answer like an
 * unknown id and free their dedup key.
 */
export class ApprovalRegistry {
  private readonly entries = new Map<string, Entry>();
  private readonly byDedupKey = new Map<string, Entry>();
  /**
   * Every entry in creation order, for paging newest first from a cursor: `slotPositions` (sorted) is
   * binary-searched, an evicted entry leaves an empty slot (so nothing keeps its approval alive), and
   * the holes are compacted away once they are half the array.
   */
  private slots: (Entry | undefined)[] = [];
  private slotPositions: number[] = [];
  private holes = 0;
  private nextPosition = 1;
  /** Decided/expired entries still kept, in the order they left pending: eviction takes the first. */
  private readonly settled = new Set<Entry>();
  private evictionTimer: NodeJS.Timeout | undefined;
  /** Above 0 while a read walks the entries (a listener may nest one): evictions wait, so a page is one snapshot. */
  private walking = 0;
  private pending = 0;
  private waiting = 0;
  private closed = false;

  constructor(
    private readonly hooks: RegistryHooks,
    private readonly retention: RetentionPolicy = { maxAgeMs: Infinity, maxCount: Infinity },
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
    this.evictAged(now); // an aged-out approval must not still answer for its dedup key
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
      created_at: formatWireTimestamp(now),
      expires_at: formatWireTimestamp(expiresAtMs),
      decided_at: null,
      requester_label: input.requesterLabel,
      dedup_key: input.dedupKey,
      callback_url: input.callbackUrl,
    };
    const entry: Entry = { approval, position: this.nextPosition++, slot: 0, expiresAtMs, expiryTimer: undefined, waiters: undefined, settledAtMs: 0 };
    entry.expiryTimer = setTimeout(() => this.expireEntry(entry), input.expiresIn * 1000);
    entry.expiryTimer.unref();
    this.entries.set(approval.id, entry);
    this.compactSlots();
    entry.slot = this.slots.push(entry) - 1;
    this.slotPositions.push(entry.position);
    if (input.dedupKey !== null) this.byDedupKey.set(input.dedupKey, entry);
    this.pending++;
    this.hooks.onCreated(approval);
    return { approval, created: true };
  }

  /** The registry's own record (do not mutate), or undefined. */
  get(id: string): WireApproval | undefined {
    const now = this.now();
    this.evictAged(now);
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    this.refresh(entry, now);
    return entry.approval;
  }

  /** Every approval kept, newest first, optionally only one status. */
  list(status?: ApprovalStatus): WireApproval[] {
    return this.page({ status, limit: Infinity }).approvals;
  }

  /**
   * One page of approvals, newest first: at most `limit` of them, created before the approval at
   * position `before` (a previous page's `next`), optionally one status only.
   */
  page(query: { status?: ApprovalStatus; limit: number; before?: number }): ApprovalPage {
    const now = this.now();
    this.evictAged(now);
    const approvals: WireApproval[] = [];
    let lastPosition = 0;
    let more = false;
    // Only create() compacts and nothing evicts during the walk, so these arrays hold still meanwhile.
    const slots = this.slots;
    this.walking++;
    try {
      for (let i = firstIndexAtOrAfter(this.slotPositions, query.before ?? Infinity) - 1; i >= 0; i--) {
        const entry = slots[i];
        if (entry === undefined) continue;
        this.refresh(entry, now);
        if (query.status !== undefined && entry.approval.status !== query.status) continue;
        if (approvals.length === query.limit) {
          more = true; // one more match exists: the page gets a cursor
          break;
        }
        approvals.push(entry.approval);
        lastPosition = entry.position;
      }
    } finally {
      this.walking--;
    }
    this.enforceRetention(now);
    return { approvals, next: more ? lastPosition : null };
  }

  /** Oldest first: every approval kept, for scanning. */
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
    entry.approval.expires_at = formatWireTimestamp(now);
    return this.settle(entry, 'expired', now, detail);
  }

  /**
   * Calls `done` once: with the decided approval as soon as it is decided, or with the still-pending
   * approval after `timeoutMs`. The caller checks the approval is pending first.
   * Returns a cancel function (idempotent; a no-op once `done` ran).
   */
  wait(id: string, timeoutMs: number, done: (approval: WireApproval) => void): () => void {
    this.assertOpen();
    this.evictAged(this.now());
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
    clearTimeout(this.evictionTimer);
    this.evictionTimer = undefined;
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
    const now = this.now();
    this.evictAged(now);
    const entry = this.entries.get(id);
    if (!entry) throw new NotFoundError(id);
    this.refresh(entry, now);
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

  /**
   * The commit point of a decision: the state changes first (plain assignments, nothing that can
   * throw), then the effects run. The hooks must not throw (LocalBroker isolates each of its effects);
   * a waiter that throws is skipped so the others, the hooks and retention still run.
   */
  private settle(entry: Entry, status: TerminalStatus, atMs: number, detail: DecisionDetail): WireApproval {
    const { approval } = entry;
    const now = this.now();
    approval.status = status;
    approval.decided_at = formatWireTimestamp(atMs);
    this.pending--;
    if (entry.expiryTimer) clearTimeout(entry.expiryTimer);
    entry.expiryTimer = undefined;
    entry.settledAtMs = now;
    this.settled.add(entry);
    const waiters = entry.waiters;
    entry.waiters = undefined;
    if (waiters) {
      this.changeWaiting(-waiters.size);
      const released = [...waiters];
      waiters.clear();
      for (const waiter of released) {
        clearTimeout(waiter.timer);
        try {
          waiter.done(approval);
        } catch {
          // one broken long-poll answer must not keep the rest of the decision from happening
        }
      }
    }
    this.hooks.onDecided(approval, detail);
    this.enforceRetention(now);
    return approval;
  }

  /** Evicts by count and by age, then arms the timer for the next age eviction. */
  private enforceRetention(now: number): void {
    if (this.walking > 0 || this.closed) return;
    while (this.settled.size > this.retention.maxCount) this.evict(this.settled.values().next().value as Entry);
    this.evictAged(now);
  }

  private evictAged(now: number): void {
    if (this.walking > 0 || this.closed) return;
    for (const entry of this.settled) {
      if (entry.settledAtMs + this.retention.maxAgeMs > now) break; // settled in order: the rest are younger
      this.evict(entry);
    }
    this.armEvictionTimer(now);
  }

  private evict(entry: Entry): void {
    this.settled.delete(entry);
    this.entries.delete(entry.approval.id);
    const key = entry.approval.dedup_key;
    if (key !== null && this.byDedupKey.get(key) === entry) this.byDedupKey.delete(key);
    this.slots[entry.slot] = undefined;
    this.holes++;
  }

  /** One timer for the whole registry, due when the oldest kept decision ages out: memory shrinks with no read. */
  private armEvictionTimer(now: number): void {
    if (this.evictionTimer !== undefined || !Number.isFinite(this.retention.maxAgeMs)) return;
    const oldest = this.settled.values().next().value as Entry | undefined;
    if (oldest === undefined) return;
    const delay = Math.min(Math.max(oldest.settledAtMs + this.retention.maxAgeMs - now, 0), MAX_TIMER_MS);
    this.evictionTimer = setTimeout(() => {
      this.evictionTimer = undefined;
      this.evictAged(this.now());
    }, delay);
    this.evictionTimer.unref();
  }

  /** Drops the empty slots once they are half of them (amortised O(1) per eviction). */
  private compactSlots(): void {
    if (this.holes < 1024 || this.holes * 2 < this.slots.length) return;
    const slots: Entry[] = [];
    for (const entry of this.slots) {
      if (entry === undefined) continue;
      entry.slot = slots.push(entry) - 1;
    }
    this.slots = slots;
    this.slotPositions = slots.map((entry) => entry.position);
    this.holes = 0;
  }

  private assertOpen(): void {
    if (this.closed) throw new LocalBrokerStoppedError();
  }
}

/** Binary search: the first index whose position is >= `position` (positions.length when none). */
function firstIndexAtOrAfter(positions: readonly number[], position: number): number {
  let low = 0;
  let high = positions.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (positions[mid] < position) low = mid + 1;
    else high = mid;
  }
  return low;
}

function newApprovalId(): string {
  return `apr_${randomBytes(12).toString('hex')}`;
}
