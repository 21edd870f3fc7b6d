import { ApprovalAborted, BrokerProtocolError, BrokerUnavailableError, SesameClientClosedError } from '../errors.js';
import { AttemptFailure, type BrokerExchange, type BrokerResponse, type ExchangeHandle } from './broker-exchange.js';
import { wire, type WireRequest } from './broker-wire.js';
import { redactSecrets } from './redact-secrets.js';
import type { Cancellation } from './cancellation.js';
import { backoffDelay, parseRetryAfter, type RetryOptions } from './retry-policy.js';

export interface BrokerTransportOptions {
  apiKey: string;
  requestTimeout: number;
  retry: Required<RetryOptions>;
}

export interface SendOptions {
  cancellation?: Cancellation;
  /** Per-attempt timeout in ms; defaults to the client's requestTimeout. */
  timeout?: number;
  /** Epoch ms at which any attempt or backoff still running ends, with DeadlineReached. */
  deadline?: number;
  /** Names the approval in NotFoundError. */
  approvalId?: string;
}

/** How BrokerTransport.request() reports: an error, or the parsed body. */
export type Done = (error: Error | undefined, body?: unknown) => void;

/** send() ran into SendOptions.deadline; the caller turns it into its own timeout error. */
export class DeadlineReached extends Error {}

/**
 * The one policy around every HTTP exchange with the broker, whichever client makes it (node:http by
 * default, or the app's axios): a timeout per attempt, abort and close, retries of 429, 5xx and
 * network failures with backoff and Retry-After, the size cap's verdict, the typed errors. Everything
 * is #private so that inspecting or logging a client can never reach the API key.
 */
export class BrokerTransport {
  readonly #options: BrokerTransportOptions;
  readonly #exchange: BrokerExchange;
  /** Ends each request and backoff still in progress; close() calls them all, so a closed app keeps no handle. */
  readonly #inFlight = new Set<() => void>();
  #closedReason: Error | undefined;

  constructor(options: BrokerTransportOptions, exchange: BrokerExchange) {
    this.#options = options;
    this.#exchange = exchange;
  }

  send(request: WireRequest, options: SendOptions = {}): Promise<unknown> {
    return new Promise((resolve, reject) => this.request(request, options, (error, body) => (error ? reject(error) : resolve(body))));
  }

  /**
   * send() without a promise, for callers that keep thousands of requests in flight at once (long-polls):
   * calls `done` exactly once, with the error or with the parsed body.
   */
  request(request: WireRequest, options: SendOptions, done: Done): void {
    this.#attempt(request, options, 1, done);
  }

  /** Frees pooled sockets and ends every request still in flight, so a closing app leaves no handles behind. */
  close(): void {
    this.#closedReason ??= new SesameClientClosedError();
    for (const end of [...this.#inFlight]) end();
    this.#exchange.close();
  }

  #throwIfCancelled(options: SendOptions): void {
    const { cancellation } = options;
    if (cancellation?.cancelled) throw new ApprovalAborted(options.approvalId, cancellation.reason);
    if (this.#closedReason) throw new ApprovalAborted(options.approvalId, this.#closedReason);
  }

  /**
   * Attempt number `attempt`, then its outcome: settle, or back off and make the next attempt.
   * Callbacks rather than an async loop: a long-poll held for minutes, thousands at once, then costs no
   * suspended frame and no promise per layer, and its answer reaches the caller a few microtask hops sooner.
   */
  #attempt(request: WireRequest, options: SendOptions, attempt: number, done: Done): void {
    try {
      this.#throwIfCancelled(options);
      if (options.deadline !== undefined && Date.now() >= options.deadline) throw new DeadlineReached();
    } catch (error) {
      done(error as Error);
      return;
    }
    this.#exchangeOnce(request, options, options.timeout ?? this.#options.requestTimeout, (failure, response) => {
      try {
        let lastFailure: string;
        let lastStatus: number | undefined;
        let retryAfter: number | undefined;
        if (failure) {
          this.#throwIfCancelled(options);
          if (failure.atDeadline) throw new DeadlineReached();
          if (!failure.retryable) throw new BrokerProtocolError(failure.message);
          lastFailure = failure.message;
        } else {
          const body = parseBody(response!);
          if (response!.status >= 200 && response!.status < 300) {
            if (body === undefined) throw new BrokerProtocolError(`Broker answered HTTP ${response!.status} without a JSON body`);
            // An answer's fields (id, action, summary...) reach logs and error bodies: one quoting the key is refused whole.
            if (response!.text.includes(this.#options.apiKey))
              throw new BrokerProtocolError(`Broker answered HTTP ${response!.status} with a body quoting the API key; refused`);
            done(undefined, body);
            return;
          }
          const error = wire.errorFor(response!.status, body, options.approvalId, (text) => redactSecrets(text, this.#options.apiKey));
          if (error) throw error;
          lastStatus = response!.status;
          lastFailure = `HTTP ${response!.status}`;
          retryAfter = parseRetryAfter(response!.retryAfter);
        }
        const { retry } = this.#options;
        if (attempt > retry.retries) throw new BrokerUnavailableError(attempt, lastFailure, lastStatus);
        const delay = Math.max(backoffDelay(attempt, retry), retryAfter ?? 0);
        if (delay > retry.maxRetryAfter) throw new BrokerUnavailableError(attempt, `${lastFailure}; Retry-After too long`, lastStatus);
        this.#backoff(delay, options, () => this.#attempt(request, options, attempt + 1, done), done);
      } catch (error) {
        done(error as Error);
      }
    });
  }

  /**
   * Sleeps before a retry, then calls `next`. Ends early when the caller cancels or the client closes
   * (ApprovalAborted), and at the deadline (DeadlineReached), through `fail`.
   */
  #backoff(delay: number, options: SendOptions, next: () => void, fail: (error: Error) => void): void {
    const { cancellation, deadline } = options;
    const untilDeadline = deadline === undefined ? Infinity : deadline - Date.now();
    // Decided now, not by reading the clock on waking: a timer may fire a little before Date.now() says it is due.
    const endsAtDeadline = untilDeadline <= delay;
    const end = (timedOut: boolean) => {
      clearTimeout(timer);
      this.#inFlight.delete(cancel);
      cancellation?.onCancel(undefined);
      try {
        this.#throwIfCancelled(options);
        if (timedOut && endsAtDeadline) throw new DeadlineReached();
      } catch (error) {
        fail(error as Error);
        return;
      }
      next();
    };
    const cancel = () => end(false);
    const timer = setTimeout(() => end(true), Math.max(0, Math.min(delay, untilDeadline)));
    this.#inFlight.add(cancel);
    cancellation?.onCancel(cancel);
    if (cancellation?.cancelled || this.#closedReason) cancel();
  }

  /**
   * One attempt through the exchange; calls `done` exactly once, with the answer or with an
   * AttemptFailure (after a cancel too: the caller tells which one it was).
   */
  #exchangeOnce(request: WireRequest, options: SendOptions, timeoutMs: number, done: (failure: AttemptFailure | undefined, response?: BrokerResponse) => void): void {
    const { cancellation, deadline } = options;
    const payload = request.body === undefined ? undefined : JSON.stringify(request.body);
    // One timer per attempt: at the attempt's timeout, or at the caller's deadline when that comes first.
    const untilDeadline = deadline === undefined ? Infinity : deadline - Date.now();
    const endsAtDeadline = untilDeadline <= timeoutMs;

    let finished = false;
    const finish = (failure: AttemptFailure | undefined, response?: BrokerResponse) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      cancellation?.onCancel(undefined);
      this.#inFlight.delete(onAbort);
      if (failure) handle.destroy();
      done(failure, response);
    };
    const onAbort = () => finish(new AttemptFailure(true, 'aborted'));
    let handle: ExchangeHandle;
    try {
      handle = this.#exchange.start(request, payload, finish);
    } catch (error) {
      // It could not even send (and cleaned up itself).
      done(error instanceof AttemptFailure ? error : new AttemptFailure(false, 'Broker request not sent'));
      return;
    }
    const timer = setTimeout(
      () => finish(endsAtDeadline ? new AttemptFailure(false, 'deadline reached', true) : new AttemptFailure(true, `ETIMEDOUT (no answer within ${timeoutMs} ms)`)),
      Math.max(0, Math.min(timeoutMs, untilDeadline)),
    );
    cancellation?.onCancel(onAbort);
    this.#inFlight.add(onAbort);
    if (cancellation?.cancelled || this.#closedReason) onAbort();
  }
}

function parseBody(response: BrokerResponse): unknown {
  const { text } = response;
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    // Error pages from proxies (5xx HTML) are expected; a 2xx that is not JSON is a protocol error upstream.
    if (response.status >= 200 && response.status < 300) {
      throw new BrokerProtocolError(`Broker answered HTTP ${response.status} with a body that is not JSON`);
    }
    return undefined;
  }
}
