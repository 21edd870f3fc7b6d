import type { WireRequest } from './broker-wire.js';

/** What an exchange is set up with: where the broker is, the key and agent it sends, the largest answer it reads. */
export interface ExchangeSettings {
  baseUrl: string;
  apiKey: string;
  userAgent: string;
  maxResponseBytes: number;
}

/** A broker answer, read in full: the transport decides what it means (success, typed error, retry). */
export interface BrokerResponse {
  status: number;
  /** The `Retry-After` header, when the answer had one. */
  retryAfter: string | undefined;
  text: string;
}

/**
 * One attempt that got no usable answer: retried (network, timeout), refused at once (too large, a
 * client that cannot send it: `message` is then the whole BrokerProtocolError message), or cut by the deadline.
 */
export class AttemptFailure extends Error {
  constructor(
    readonly retryable: boolean,
    message: string,
    readonly atDeadline = false,
  ) {
    super(message);
  }
}

/** How an exchange reports: once, with a failure or with the answer. */
export type ExchangeDone = (failure: AttemptFailure | undefined, response?: BrokerResponse) => void;

/** An attempt in flight; `destroy()` abandons it (its socket goes away), and does nothing once it ended. */
export interface ExchangeHandle {
  destroy(): void;
}

/**
 * One HTTP request to the broker and its answer, nothing more: BrokerTransport keeps the single policy
 * around it (per-attempt timeout, abort, retries, backoff, Retry-After, the typed errors), so every
 * HTTP client it can use behaves the same. `start` never calls `done` before it returns: it throws an
 * AttemptFailure when it could not send at all (having cleaned up itself); after that the transport
 * calls `destroy()` on every failure, its own (timeout, abort) or the one `done` reported, and ignores
 * any report after the first.
 */
export interface BrokerExchange {
  start(request: WireRequest, payload: string | undefined, done: ExchangeDone): ExchangeHandle;
  /** Frees what the exchange owns (pooled sockets); the transport has ended every attempt first. */
  close(): void;
}
