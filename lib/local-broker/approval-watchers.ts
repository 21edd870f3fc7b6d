import type { WireApproval } from '../protocol/wire-approval.js';
import { copyApproval } from './approval-copy.js';
import { LocalBrokerStoppedError, WaitForApprovalTimeoutError } from './local-broker.errors.js';

export interface WaitForApprovalOptions {
  /** Reject with WaitForApprovalTimeoutError after this many ms. Default 5000; `Infinity` waits forever. */
  timeoutMs?: number;
}

export type ApprovalPredicate = (approval: WireApproval) => boolean;

interface Watcher<T> {
  check: (value: T) => void;
  fail: (error: Error) => void;
}

const DEFAULT_TIMEOUT_MS = 5000;

/**
 * The programmatic waits tests use instead of polling: `waitForApproval()` (an approval matching a
 * predicate) and `waitForHeldWaits()` (a number of held long-polls). The broker reports every change
 * to them; `close()` rejects whatever still waits.
 */
export class ApprovalWatchers {
  private readonly approvalWatchers = new Set<Watcher<WireApproval>>();
  private readonly heldWaitWatchers = new Set<Watcher<number>>();
  private closed = false;

  /** Resolves with the first of `existing` matching `predicate`, else with the next created or decided one that matches. */
  waitForApproval(existing: () => Iterable<WireApproval>, predicate: ApprovalPredicate, options: WaitForApprovalOptions): Promise<WireApproval> {
    if (this.closed) return Promise.reject(new LocalBrokerStoppedError());
    try {
      for (const approval of existing()) {
        const copy = copyApproval(approval);
        if (predicate(copy)) return Promise.resolve(copy);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.watch(this.approvalWatchers, options.timeoutMs, 'approval matching the predicate', (approval, resolve) => {
      // Each watcher gets its own copy, so one predicate cannot change what the next sees.
      const copy = copyApproval(approval);
      if (predicate(copy)) resolve(copy);
    });
  }

  /** Resolves once `current()` held waits reach `count`: at least `count` when counting up, at most when counting down. */
  waitForHeldWaits(current: number, count: number, options: WaitForApprovalOptions): Promise<void> {
    if (this.closed) return Promise.reject(new LocalBrokerStoppedError());
    if (current === count) return Promise.resolve();
    const reached = current < count ? (held: number) => held >= count : (held: number) => held <= count;
    return this.watch(this.heldWaitWatchers, options.timeoutMs, `${count} held wait(s)`, (held, resolve) => {
      if (reached(held)) resolve(undefined);
    });
  }

  /** An approval was created or decided. */
  approvalChanged(approval: WireApproval): void {
    for (const watcher of [...this.approvalWatchers]) watcher.check(approval);
  }

  /** The number of held waits changed; `held` is the new total. */
  heldWaitsChanged(held: number): void {
    for (const watcher of [...this.heldWaitWatchers]) watcher.check(held);
  }

  /** Rejects every pending wait with LocalBrokerStoppedError and refuses new ones. */
  close(): void {
    this.closed = true;
    for (const watcher of [...this.approvalWatchers, ...this.heldWaitWatchers]) watcher.fail(new LocalBrokerStoppedError());
  }

  /** A watcher in `set` until `test` resolves it, it throws, or `timeoutMs` (default 5000) runs out. */
  private watch<T, R>(set: Set<Watcher<T>>, timeoutMs = DEFAULT_TIMEOUT_MS, what: string, test: (value: T, resolve: (result: R) => void) => void): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const timer = Number.isFinite(timeoutMs) ? setTimeout(() => watcher.fail(new WaitForApprovalTimeoutError(timeoutMs, what)), timeoutMs) : undefined;
      const settle = () => {
        clearTimeout(timer);
        set.delete(watcher);
      };
      const watcher: Watcher<T> = {
        check: (value) => {
          try {
            test(value, (result) => {
              settle();
              resolve(result);
            });
          } catch (error) {
            watcher.fail(error as Error);
          }
        },
        fail: (error) => {
          settle();
          reject(error);
        },
      };
      set.add(watcher);
    });
  }
}
