import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { ApprovalAborted, BrokerProtocolError, BrokerUnavailableError, SesameClientClosedError } from '../errors.js';
import { wire, type WireRequest } from './broker-wire.js';
import { redactSecrets } from './redact-secrets.js';
import type { Cancellation } from './cancellation.js';
import { backoffDelay, parseRetryAfter, type RetryOptions } from './retry-policy.js';

export interface BrokerTransportOptions {
  baseUrl: string;
  apiKey: string;
  userAgent: string;
  requestTimeout: number;
  retry: Required<RetryOptions>;
  maxResponseBytes: number;
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

interface BrokerResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** How BrokerTransport.request() reports: an error, or the parsed body. */
export type Done = (error: Error | undefined, body?: unknown) => void;

/** send() ran into SendOptions.deadline; the caller turns it into its own timeout error. */
export class DeadlineReached extends Error {}

/** One attempt that got no usable answer: retried (network, timeout), refused at once (too large), or cut by the deadline. */
class AttemptFailure extends Error {
  constructor(
    readonly retryable: boolean,
    message: string,
    readonly atDeadline = false,
  ) {
    super(message);
  }
}

/**
 * One HTTP exchange with the broker, retried on 429, 5xx and network failures.
 * Plain node:http(s) with a keep-alive agent: a held long-poll costs one socket and a few small
 * objects, so an app can keep thousands of approvals waiting. Everything is #private so that
 * inspecting or logging a client can never reach the API key.
 */
export class BrokerTransport {
  readonly #options: BrokerTransportOptions;
  /**
   * Where every request goes, worked out once. Only the keys node:http needs (no `protocol`: the agent
   * implies it; no `method` for GET): it keeps a copy of a request's options for each socket that
   * request opens, and with the agent's own keys, past eleven that copy doubles (0.4 KB per held wait).
   */
  readonly #target: { host: string; port: string | undefined };
  readonly #basePath: string;
  /**
   * Every header of a GET, as one flat [name, value, ...] list. Given as an array, node:http writes the
   * header block straight from it instead of keeping a header map and a [name, value] pair per header
   * on each request for as long as the request is held.
   */
  readonly #headers: readonly string[];
  readonly #agent: http.Agent;
  readonly #request: typeof http.request;
  /** Ends each request and backoff still in progress; close() calls them all, so a closed app keeps no handle. */
  readonly #inFlight = new Set<() => void>();
  #closedReason: Error | undefined;

  constructor(options: BrokerTransportOptions) {
    this.#options = options;
    const base = new URL(options.baseUrl.replace(/\/+$/, ''));
    this.#target = { host: base.hostname.replace(/^\[|\]$/g, ''), port: base.port || undefined };
    this.#basePath = base.pathname.replace(/\/+$/, '');
    // With the headers given as a list node:http adds no Host of its own; URL.host is what it would send.
    this.#headers = Object.freeze(['host', base.host, ...Object.entries(wire.headers(options.apiKey, options.userAgent)).flat()]);
    const secure = base.protocol === 'https:';
    this.#agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    this.#request = secure ? https.request : http.request;
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
    this.#agent.destroy();
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
    this.#exchange(request, options, options.timeout ?? this.#options.requestTimeout, (failure, response) => {
      try {
        let lastFailure: string;
        let lastStatus: number | undefined;
        let retryAfter: number | undefined;
        if (failure) {
          this.#throwIfCancelled(options);
          if (failure.atDeadline) throw new DeadlineReached();
          if (!failure.retryable) throw new BrokerProtocolError(`Broker response rejected: ${failure.message}`);
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
          retryAfter = parseRetryAfter(header(response!.headers, 'retry-after'));
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
   * One attempt; calls `done` exactly once, with the answer or with an AttemptFailure (after a cancel
   * too: the caller tells which one it was).
   */
  #exchange(request: WireRequest, options: SendOptions, timeoutMs: number, done: (failure: AttemptFailure | undefined, response?: BrokerResponse) => void): void {
    const { maxResponseBytes } = this.#options;
    const { cancellation, deadline } = options;
    const payload = request.body === undefined ? undefined : JSON.stringify(request.body);
    // One timer per attempt: at the attempt's timeout, or at the caller's deadline when that comes first.
    const untilDeadline = deadline === undefined ? Infinity : deadline - Date.now();
    const endsAtDeadline = untilDeadline <= timeoutMs;

    let finished = false;
    const req = this.#request({
      ...this.#target,
      path: this.#basePath + request.path,
      ...(request.method !== 'GET' && { method: request.method }),
      ...(payload === undefined && { headers: this.#headers as string[] }),
      agent: this.#agent,
    });
    // Before anything that can throw: a request left without an 'error' listener crashes the process when its socket errors.
    req.on('error', (error: NodeJS.ErrnoException) => finish(networkFailure(error)));
    if (payload !== undefined) {
      // A request with a body is short-lived, and the socket it opens keeps a copy of its options: one
      // more key there (headers, on top of method) doubles that copy, so its headers are set one by one.
      const headers = this.#headers;
      try {
        for (let i = 0; i < headers.length; i += 2) req.setHeader(headers[i], headers[i + 1]);
        req.setHeader('content-type', 'application/json');
        req.setHeader('content-length', Buffer.byteLength(payload));
      } catch (error) {
        // Never with validated options; the code only, since the message may quote a header's value.
        req.removeAllListeners('error').on('error', () => undefined);
        req.destroy();
        done(new AttemptFailure(false, `request headers refused (${(error as NodeJS.ErrnoException).code ?? 'invalid header'})`));
        return;
      }
    }
    const finish = (failure: AttemptFailure | undefined, response?: BrokerResponse) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      cancellation?.onCancel(undefined);
      this.#inFlight.delete(onAbort);
      if (failure) req.destroy();
      done(failure, response);
    };
    const onAbort = () => finish(new AttemptFailure(true, 'aborted'));
    const timer = setTimeout(
      () => finish(endsAtDeadline ? new AttemptFailure(false, 'deadline reached', true) : new AttemptFailure(true, `ETIMEDOUT (no answer within ${timeoutMs} ms)`)),
      Math.max(0, Math.min(timeoutMs, untilDeadline)),
    );
    cancellation?.onCancel(onAbort);
    this.#inFlight.add(onAbort);

    req.on('response', (res) => {
      const declared = Number(res.headers['content-length']);
      if (declared > maxResponseBytes) {
        finish(new AttemptFailure(false, `body of ${declared} bytes exceeds the ${maxResponseBytes}-byte limit`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxResponseBytes) finish(new AttemptFailure(false, `body exceeds the ${maxResponseBytes}-byte limit`));
        else chunks.push(chunk);
      });
      res.on('end', () => {
        const text = chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks, size).toString('utf8');
        finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, text });
      });
      // The connection died mid-body: the answer is lost, like a dropped connection.
      res.on('aborted', () => finish(new AttemptFailure(true, 'ECONNRESET (connection closed before the answer was complete)')));
      res.on('error', (error: NodeJS.ErrnoException) => finish(networkFailure(error)));
    });
    if (cancellation?.cancelled || this.#closedReason) onAbort();
    req.end(payload);
  }
}

/** A socket or stream error: retryable, named by its code when it has one. */
function networkFailure(error: NodeJS.ErrnoException): AttemptFailure {
  return new AttemptFailure(true, error.code ? `${error.code} (${error.message})` : error.message);
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value: unknown = headers[name];
  return typeof value === 'string' ? value : undefined;
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
