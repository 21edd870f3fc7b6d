import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { ApprovalAborted, BrokerProtocolError, BrokerUnavailableError, SesameClientClosedError } from '../errors.js';
import { wire, type WireRequest } from './broker-wire.js';
import { backoffDelay, parseRetryAfter, sleep, type RetryOptions } from './retry-policy.js';

export interface BrokerTransportOptions {
  baseUrl: string;
  apiKey: string;
  userAgent: string;
  requestTimeout: number;
  retry: Required<RetryOptions>;
  maxResponseBytes: number;
}

export interface SendOptions {
  signal?: AbortSignal;
  /** Per-attempt timeout in ms; defaults to the client's requestTimeout. */
  timeout?: number;
  /** Names the approval in NotFoundError. */
  approvalId?: string;
}

interface BrokerResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** One attempt that got no usable answer: retried (network, timeout) or refused at once (too large). */
class AttemptFailure extends Error {
  constructor(
    readonly retryable: boolean,
    message: string,
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
  readonly #base: URL;
  readonly #agent: http.Agent;
  readonly #request: typeof http.request;
  /** Ends each request and backoff still in progress; close() calls them all, so a closed app keeps no handle. */
  readonly #inFlight = new Set<() => void>();
  #closedReason: Error | undefined;

  constructor(options: BrokerTransportOptions) {
    this.#options = options;
    this.#base = new URL(options.baseUrl.replace(/\/+$/, ''));
    const secure = this.#base.protocol === 'https:';
    this.#agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    this.#request = secure ? https.request : http.request;
  }

  async send(request: WireRequest, options: SendOptions = {}): Promise<unknown> {
    const { retry, requestTimeout } = this.#options;
    let lastFailure: string;
    let lastStatus: number | undefined;
    for (let attempt = 1; ; attempt++) {
      this.#throwIfAborted(options);
      let retryAfter: number | undefined;
      try {
        const response = await this.#exchange(request, options.signal, options.timeout ?? requestTimeout);
        const body = parseBody(response);
        if (response.status >= 200 && response.status < 300) {
          if (body === undefined) throw new BrokerProtocolError(`Broker answered HTTP ${response.status} without a JSON body`);
          return body;
        }
        const error = wire.errorFor(response.status, body, options.approvalId);
        if (error) throw error;
        lastStatus = response.status;
        lastFailure = `HTTP ${response.status}`;
        retryAfter = parseRetryAfter(header(response.headers, 'retry-after'));
      } catch (error) {
        if (!(error instanceof AttemptFailure)) throw error;
        this.#throwIfAborted(options);
        if (!error.retryable) throw new BrokerProtocolError(`Broker response rejected: ${error.message}`);
        lastStatus = undefined;
        lastFailure = error.message;
      }
      if (attempt > retry.retries) throw new BrokerUnavailableError(attempt, lastFailure, lastStatus);
      const delay = Math.max(backoffDelay(attempt, retry), retryAfter ?? 0);
      if (delay > retry.maxRetryAfter) throw new BrokerUnavailableError(attempt, `${lastFailure}; Retry-After too long`, lastStatus);
      await this.#backoff(delay, options);
    }
  }

  /** Frees pooled sockets and ends every request still in flight, so a closing app leaves no handles behind. */
  close(): void {
    this.#closedReason ??= new SesameClientClosedError();
    for (const end of [...this.#inFlight]) end();
    this.#agent.destroy();
  }

  #throwIfAborted(options: SendOptions): void {
    if (options.signal?.aborted) throw new ApprovalAborted(options.approvalId, options.signal.reason);
    if (this.#closedReason) throw new ApprovalAborted(options.approvalId, this.#closedReason);
  }

  /** Sleeps before a retry; ends early, with ApprovalAborted, when the caller aborts or the client closes. */
  async #backoff(delay: number, options: SendOptions): Promise<void> {
    const controller = new AbortController();
    const end = () => controller.abort();
    this.#inFlight.add(end);
    options.signal?.addEventListener('abort', end, { once: true });
    try {
      await sleep(delay, controller.signal);
    } catch {
      this.#throwIfAborted(options);
    } finally {
      this.#inFlight.delete(end);
      options.signal?.removeEventListener('abort', end);
    }
  }

  /** One attempt. Rejects with AttemptFailure only (after an abort too: send() tells which signal fired). */
  #exchange(request: WireRequest, signal: AbortSignal | undefined, timeoutMs: number): Promise<BrokerResponse> {
    const { apiKey, userAgent, maxResponseBytes } = this.#options;
    const payload = request.body === undefined ? undefined : JSON.stringify(request.body);
    const headers: Record<string, string> = wire.headers(apiKey, userAgent);
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }

    return new Promise<BrokerResponse>((resolve, reject) => {
      let finished = false;
      const req = this.#request({
        protocol: this.#base.protocol,
        hostname: this.#base.hostname.replace(/^\[|\]$/g, ''),
        port: this.#base.port || undefined,
        path: this.#base.pathname.replace(/\/+$/, '') + request.path,
        method: request.method,
        headers,
        agent: this.#agent,
      });
      const finish = (error: AttemptFailure | undefined, response?: BrokerResponse) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#inFlight.delete(onAbort);
        if (error) {
          req.destroy();
          reject(error);
        } else {
          resolve(response!);
        }
      };
      const onAbort = () => finish(new AttemptFailure(true, 'aborted'));
      const timer = setTimeout(() => finish(new AttemptFailure(true, `ETIMEDOUT (no answer within ${timeoutMs} ms)`)), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#inFlight.add(onAbort);

      req.on('error', (error: NodeJS.ErrnoException) => finish(new AttemptFailure(true, error.code ? `${error.code} (${error.message})` : error.message)));
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
        res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks, size).toString('utf8') }));
        // The connection died mid-body: the answer is lost, like a dropped connection.
        res.on('aborted', () => finish(new AttemptFailure(true, 'ECONNRESET (connection closed before the answer was complete)')));
        res.on('error', (error: NodeJS.ErrnoException) => finish(new AttemptFailure(true, error.code ? `${error.code} (${error.message})` : error.message)));
      });
      if (signal?.aborted || this.#closedReason) onAbort();
      req.end(payload);
    });
  }
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
