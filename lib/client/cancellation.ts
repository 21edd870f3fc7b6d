/**
 * A one-shot cancel for the client's own requests. It does what an AbortController does for them,
 * without an EventTarget, a listener map and a controller per held wait: those cost about 0.5 KB and
 * a few microseconds per long-poll, which thousands of pending approvals pay in full.
 * One subscriber at a time: the attempt or backoff in flight.
 */
export class Cancellation {
  #cancelled = false;
  #reason: unknown;
  #onCancel: (() => void) | undefined;
  #unfollow: (() => void) | undefined;

  /** A cancellation that follows `signal` until `dispose()`; none without a signal (nothing could cancel it). */
  static following(signal: AbortSignal | undefined): Cancellation | undefined {
    if (!signal) return undefined;
    const cancellation = new Cancellation();
    if (signal.aborted) {
      cancellation.cancel(signal.reason);
    } else {
      const forward = () => cancellation.cancel(signal.reason);
      signal.addEventListener('abort', forward, { once: true });
      cancellation.#unfollow = () => signal.removeEventListener('abort', forward);
    }
    return cancellation;
  }

  get cancelled(): boolean {
    return this.#cancelled;
  }

  get reason(): unknown {
    return this.#reason;
  }

  cancel(reason: unknown): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    this.#reason = reason;
    this.dispose();
    const onCancel = this.#onCancel;
    this.#onCancel = undefined;
    onCancel?.();
  }

  /** Sets (or, with undefined, clears) what runs on cancel; the caller checks `cancelled` first. */
  onCancel(callback: (() => void) | undefined): void {
    this.#onCancel = callback;
  }

  /** Stops following the signal, so a long-lived caller signal does not keep this alive. */
  dispose(): void {
    this.#unfollow?.();
    this.#unfollow = undefined;
  }
}
