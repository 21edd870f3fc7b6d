import http from 'node:http';
import https from 'node:https';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import { ApprovalAborted, BrokerProtocolError, BrokerUnavailableError } from '../errors.js';
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

/**
 * One HTTP exchange with the broker, retried on 429, 5xx and network failures.
 * Everything is #private so that inspecting or logging a client can never reach the API key.
 */
export class BrokerTransport {
  readonly #options: BrokerTransportOptions;
  readonly #http: AxiosInstance;
  readonly #httpAgent = new http.Agent({ keepAlive: true });
  readonly #httpsAgent = new https.Agent({ keepAlive: true });

  constructor(options: BrokerTransportOptions) {
    this.#options = options;
    this.#http = axios.create({
      baseURL: options.baseUrl.replace(/\/+$/, ''),
      httpAgent: this.#httpAgent,
      httpsAgent: this.#httpsAgent,
      // Status mapping and JSON parsing are ours, so nothing axios throws can carry a request config (and its key).
      validateStatus: () => true,
      responseType: 'text',
      transformResponse: [(data: unknown) => data],
      maxContentLength: options.maxResponseBytes,
      maxRedirects: 0,
      proxy: false,
    });
  }

  async send(request: WireRequest, options: SendOptions = {}): Promise<unknown> {
    const { retry, apiKey, userAgent, requestTimeout } = this.#options;
    let lastFailure: string;
    let lastStatus: number | undefined;
    for (let attempt = 1; ; attempt++) {
      let retryAfter: number | undefined;
      try {
        const response = await this.#http.request<string>({
          method: request.method,
          url: request.path,
          data: request.body,
          headers: wire.headers(apiKey, userAgent),
          signal: options.signal,
          timeout: options.timeout ?? requestTimeout,
        });
        const body = parseBody(response);
        if (response.status >= 200 && response.status < 300) {
          if (body === undefined) throw new BrokerProtocolError(`Broker answered HTTP ${response.status} without a JSON body`);
          return body;
        }
        const error = wire.errorFor(response.status, body, options.approvalId);
        if (error) throw error;
        lastStatus = response.status;
        lastFailure = `HTTP ${response.status}`;
        retryAfter = parseRetryAfter(header(response, 'retry-after'));
      } catch (error) {
        if (!axios.isAxiosError(error)) throw error;
        if (options.signal?.aborted) throw new ApprovalAborted(options.approvalId, options.signal.reason);
        if (error.code === 'ERR_BAD_RESPONSE' || error.code === 'ERR_FR_MAX_CONTENT_LENGTH_EXCEEDED') {
          throw new BrokerProtocolError(`Broker response rejected: ${error.message}`);
        }
        lastStatus = undefined;
        lastFailure = error.code ? `${error.code} (${error.message})` : error.message;
      }
      if (attempt > retry.retries) throw new BrokerUnavailableError(attempt, lastFailure, lastStatus);
      const delay = Math.max(backoffDelay(attempt, retry), retryAfter ?? 0);
      if (delay > retry.maxRetryAfter) throw new BrokerUnavailableError(attempt, `${lastFailure}; Retry-After too long`, lastStatus);
      try {
        await sleep(delay, options.signal);
      } catch (reason) {
        throw new ApprovalAborted(options.approvalId, reason);
      }
    }
  }

  /** Frees pooled sockets so a closing app leaves no handles behind. */
  close(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }
}

function header(response: AxiosResponse, name: string): string | undefined {
  const value: unknown = response.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function parseBody(response: AxiosResponse<string>): unknown {
  const text = response.data;
  if (typeof text !== 'string' || text.length === 0) return undefined;
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
