import { AttemptFailure, type BrokerExchange, type BrokerResponse, type ExchangeDone, type ExchangeHandle, type ExchangeSettings } from './broker-exchange.js';
import { wire, type WireRequest } from './broker-wire.js';
import type { AxiosLikeClient, SesameAxiosRequestConfig, SesameAxiosResponse } from './http-client.option.js';
import { redactSecrets } from './redact-secrets.js';

/** Codes axios gives a request it could not make at all: no retry helps. */
const NOT_SENDABLE = new Set(['ERR_BAD_OPTION', 'ERR_BAD_OPTION_VALUE', 'ERR_INVALID_URL', 'ERR_NOT_SUPPORT', 'ERR_DEPRECATED']);

/**
 * The exchange through the app's own axios instance (its proxy, agents, interceptors, mTLS, tracing).
 * Each request config overrides what would change the client's behaviour: the transport times each
 * attempt and aborts it through `signal` (an instance `timeout` would cut a long-poll short),
 * redirects are answers (refused, never followed with the key to another host), every status
 * resolves (the transport decides), and the body stays bytes, capped at `maxResponseBytes`.
 * Errors from axios carry the request config, Authorization header included: none leaves this file,
 * only a code and a masked message do.
 */
export class AxiosExchange implements BrokerExchange {
  readonly #client: AxiosLikeClient;
  readonly #baseUrl: string;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #apiKey: string;
  readonly #maxResponseBytes: number;

  constructor(client: AxiosLikeClient, settings: ExchangeSettings) {
    this.#client = client;
    this.#baseUrl = settings.baseUrl.replace(/\/+$/, '');
    this.#headers = Object.freeze(wire.headers(settings.apiKey, settings.userAgent));
    this.#apiKey = settings.apiKey;
    this.#maxResponseBytes = settings.maxResponseBytes;
  }

  start(request: WireRequest, payload: string | undefined, done: ExchangeDone): ExchangeHandle {
    const controller = new AbortController();
    const config: SesameAxiosRequestConfig = {
      url: this.#baseUrl + request.path,
      method: request.method,
      // A fresh object each time: interceptors may edit what they are given.
      headers: payload === undefined ? { ...this.#headers } : { ...this.#headers, 'content-type': 'application/json' },
      ...(payload !== undefined && { data: payload }),
      signal: controller.signal,
      timeout: 0,
      maxContentLength: this.#maxResponseBytes,
      maxRedirects: 0,
      validateStatus: null,
      responseType: 'arraybuffer',
      transformRequest: [],
      transformResponse: [],
      allowAbsoluteUrls: true,
    };
    let answer: PromiseLike<SesameAxiosResponse>;
    try {
      answer = this.#client.request(config);
    } catch (error) {
      throw this.#failure(error);
    }
    if (typeof (answer as { then?: unknown } | undefined)?.then !== 'function') {
      controller.abort();
      throw new AttemptFailure(
        false,
        'Broker request not sent: httpClient.request() did not return a promise (pass the axios instance, or HttpService itself for @nestjs/axios)',
      );
    }
    answer.then(
      (response) => this.#read(response, done),
      (error: unknown) => done(this.#failure(error)),
    );
    return { destroy: () => controller.abort() };
  }

  /** The instance is the app's: its agents and sockets stay open for its other uses. */
  close(): void {}

  #read(response: SesameAxiosResponse, done: ExchangeDone): void {
    const status = (response as SesameAxiosResponse | undefined)?.status;
    if (typeof status !== 'number' || !Number.isInteger(status)) {
      done(new AttemptFailure(false, 'Broker response rejected: the httpClient resolved without an HTTP status'));
      return;
    }
    const text = bodyText(response.data);
    if (text === undefined) {
      done(new AttemptFailure(false, 'Broker response rejected: the httpClient gave a body that is neither bytes nor text (did a response interceptor change it?)'));
      return;
    }
    // axios enforces maxContentLength itself; checked again here for adapters that may not.
    if (Buffer.byteLength(text) > this.#maxResponseBytes) {
      done(new AttemptFailure(false, `Broker response rejected: body exceeds the ${this.#maxResponseBytes}-byte limit`));
      return;
    }
    const answer: BrokerResponse = { status, retryAfter: retryAfterOf(response.headers), text };
    done(undefined, answer);
  }

  /** An error from the httpClient, as a code and a masked message only. */
  #failure(error: unknown): AttemptFailure {
    let code: string | undefined;
    let message: string;
    try {
      const { code: rawCode, message: rawMessage, name } = (isObjectLike(error) ? error : {}) as { code?: unknown; message?: unknown; name?: unknown };
      code = typeof rawCode === 'string' ? this.#mask(rawCode, 60) : undefined;
      const text = typeof rawMessage === 'string' ? rawMessage : String(error);
      const isAxios = isObjectLike(error) && (error as { isAxiosError?: unknown }).isAxiosError === true;
      message = this.#mask(isAxios ? text : `httpClient failed: ${typeof name === 'string' ? name : 'Error'}: ${text}`, 300);
    } catch {
      message = 'httpClient failed with an unreadable error';
    }
    if (code === 'ERR_CANCELED') return new AttemptFailure(true, 'aborted');
    if (/maxContentLength size of \d+ exceeded/.test(message)) {
      return new AttemptFailure(false, `Broker response rejected: body exceeds the ${this.#maxResponseBytes}-byte limit`);
    }
    if (code !== undefined && NOT_SENDABLE.has(code)) return new AttemptFailure(false, `Broker request not sent: the httpClient refused it (${code}: ${message})`);
    // Everything else is a network failure, as it would be on the default exchange: retried.
    return new AttemptFailure(true, code ? `${code} (${message})` : message);
  }

  /** Masked before cut: a cut first could keep all of a secret but its last characters. */
  #mask(text: string, max: number): string {
    return redactSecrets(text, this.#apiKey).slice(0, max);
  }
}

function bodyText(data: unknown): string | undefined {
  if (data === undefined || data === null) return '';
  if (typeof data === 'string') return data;
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return undefined;
}

/** axios headers (AxiosHeaders, or a plain object from another adapter): the Retry-After value if it is one string. */
function retryAfterOf(headers: unknown): string | undefined {
  if (!isObjectLike(headers)) return undefined;
  const get = (headers as { get?: unknown }).get;
  const value: unknown = typeof get === 'function' ? (get as (name: string) => unknown).call(headers, 'retry-after') : (headers as Record<string, unknown>)['retry-after'];
  return typeof value === 'string' ? value : undefined;
}

function isObjectLike(value: unknown): value is object {
  return (typeof value === 'object' && value !== null) || typeof value === 'function';
}
