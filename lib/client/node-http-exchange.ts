import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { AttemptFailure, type BrokerExchange, type ExchangeDone, type ExchangeHandle, type ExchangeSettings } from './broker-exchange.js';
import { wire, type WireRequest } from './broker-wire.js';

/**
 * The default exchange: plain node:http(s) with a keep-alive agent of its own. A held long-poll costs
 * one socket and a few small objects, so an app can keep thousands of approvals waiting
 * (BENCHMARKS.md, many waiters). Everything is #private so that inspecting a client never reaches the key.
 */
export class NodeHttpExchange implements BrokerExchange {
  readonly #maxResponseBytes: number;
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

  constructor(settings: ExchangeSettings) {
    this.#maxResponseBytes = settings.maxResponseBytes;
    const base = new URL(settings.baseUrl.replace(/\/+$/, ''));
    this.#target = { host: base.hostname.replace(/^\[|\]$/g, ''), port: base.port || undefined };
    this.#basePath = base.pathname.replace(/\/+$/, '');
    // With the headers given as a list node:http adds no Host of its own; URL.host is what it would send.
    this.#headers = Object.freeze(['host', base.host, ...Object.entries(wire.headers(settings.apiKey, settings.userAgent)).flat()]);
    const secure = base.protocol === 'https:';
    this.#agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    this.#request = secure ? https.request : http.request;
  }

  start(request: WireRequest, payload: string | undefined, done: ExchangeDone): ExchangeHandle {
    const maxResponseBytes = this.#maxResponseBytes;
    const req = this.#request({
      ...this.#target,
      path: this.#basePath + request.path,
      ...(request.method !== 'GET' && { method: request.method }),
      ...(payload === undefined && { headers: this.#headers as string[] }),
      agent: this.#agent,
    });
    // Before anything that can throw: a request left without an 'error' listener crashes the process when its socket errors.
    req.on('error', (error: NodeJS.ErrnoException) => done(networkFailure(error)));
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
        throw new AttemptFailure(false, `Broker request not sent: request headers refused (${(error as NodeJS.ErrnoException).code ?? 'invalid header'})`);
      }
    }
    req.on('response', (res) => {
      const declared = Number(res.headers['content-length']);
      if (declared > maxResponseBytes) {
        done(new AttemptFailure(false, `Broker response rejected: body of ${declared} bytes exceeds the ${maxResponseBytes}-byte limit`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxResponseBytes) done(new AttemptFailure(false, `Broker response rejected: body exceeds the ${maxResponseBytes}-byte limit`));
        else chunks.push(chunk);
      });
      res.on('end', () => {
        const text = chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks, size).toString('utf8');
        done(undefined, { status: res.statusCode ?? 0, retryAfter: header(res.headers, 'retry-after'), text });
      });
      // The connection died mid-body: the answer is lost, like a dropped connection.
      res.on('aborted', () => done(new AttemptFailure(true, 'ECONNRESET (connection closed before the answer was complete)')));
      res.on('error', (error: NodeJS.ErrnoException) => done(networkFailure(error)));
    });
    req.end(payload);
    return req;
  }

  close(): void {
    this.#agent.destroy();
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
