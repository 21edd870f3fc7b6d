/** How the client retries 429, 5xx and network failures: exponential backoff with full jitter. */
export interface RetryOptions {
  /** Retries after the first attempt. Default 4. 0 disables retrying. */
  retries?: number;
  /** Backoff before the first retry, in ms. Default 200. */
  minDelay?: number;
  /** Cap on one backoff, in ms. Default 5_000. */
  maxDelay?: number;
  /** A `Retry-After` longer than this (ms) ends the retries at once instead of sleeping. Default 60_000. */
  maxRetryAfter?: number;
}

export const DEFAULT_RETRY: Required<RetryOptions> = { retries: 4, minDelay: 200, maxDelay: 5_000, maxRetryAfter: 60_000 };

/** Delay before retry number `retry` (1-based); `random` is injectable so tests are deterministic. */
export function backoffDelay(retry: number, options: Required<RetryOptions>, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxDelay, options.minDelay * 2 ** (retry - 1));
  // Full jitter, floored at half the ceiling so retries never pile up at ~0 ms.
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Parses `Retry-After` (delta-seconds or an HTTP date) into ms; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
