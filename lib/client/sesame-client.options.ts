import { IsBoolean, IsInt, IsObject, IsOptional, IsString, Max, Min } from 'class-validator';
import { SesameConfigError } from '../errors.js';
import { validatePlain } from '../validation/validate-plain.js';
import { axiosClientOf, type AxiosLikeClient, type SesameHttpClient } from './http-client.option.js';
import { redactSecrets } from './redact-secrets.js';
import { DEFAULT_RETRY, type RetryOptions } from './retry-policy.js';

export const DEFAULT_BROKER_URL = 'https://getsesame.dev';

export interface SesameClientOptions {
  /** `sk_live_...`. Default: `SESAME_API_KEY`. */
  apiKey?: string;
  /** Broker base URL. Default: `SESAME_BROKER_URL`, then https://getsesame.dev. */
  baseUrl?: string;
  /** Allow plain `http://` to a non-loopback host (the API key would travel in clear). Default false. */
  allowInsecureHttp?: boolean;
  /** Per-request timeout in ms (long-polls get their hold time on top). Default 30_000. */
  requestTimeout?: number;
  /** Default `wait()` timeout in ms. Default 300_000 (5 minutes). */
  defaultTimeout?: number;
  retry?: RetryOptions;
  /** Largest broker response accepted, in bytes. Default 1 MiB. */
  maxResponseBytes?: number;
  /**
   * The HTTP client to reach the broker with, for its proxy, agents (mTLS), interceptors or tracing:
   * an axios instance, or `@nestjs/axios`'s `HttpService`. The client sets each request's timeout,
   * abort signal, size cap, redirects (none) and status handling itself, so retries, timeouts and errors
   * are those of the default. Default: a lean node:http client of its own (axios is never loaded).
   */
  httpClient?: SesameHttpClient;
  /** Where env fallbacks are read from. Default `process.env`. */
  env?: Record<string, string | undefined>;
}

export interface ResolvedClientOptions {
  apiKey: string;
  baseUrl: string;
  requestTimeout: number;
  defaultTimeout: number;
  retry: Required<RetryOptions>;
  maxResponseBytes: number;
  /** The axios-shaped client behind `httpClient`; undefined for the default node:http one. */
  httpClient: AxiosLikeClient | undefined;
}

class RetryRules implements RetryOptions {
  @IsOptional() @IsInt() @Min(0) @Max(20) retries?: number;
  @IsOptional() @IsInt() @Min(0) minDelay?: number;
  @IsOptional() @IsInt() @Min(0) maxDelay?: number;
  @IsOptional() @IsInt() @Min(0) maxRetryAfter?: number;
}

class ClientOptionRules {
  @IsOptional() @IsString() apiKey?: string;
  @IsOptional() @IsString() baseUrl?: string;
  @IsOptional() @IsBoolean() allowInsecureHttp?: boolean;
  @IsOptional() @IsInt() @Min(1) requestTimeout?: number;
  @IsOptional() @IsInt() @Min(0) defaultTimeout?: number;
  @IsOptional() @IsObject() retry?: RetryOptions;
  @IsOptional() @IsInt() @Min(1024) maxResponseBytes?: number;
}

/** Applies env fallbacks and defaults, and refuses anything unusable with a message naming the option. */
export function resolveClientOptions(options: SesameClientOptions = {}): ResolvedClientOptions {
  // httpClient is checked on its own: class-transformer would walk an axios instance.
  const { env = process.env, httpClient, ...rest } = options;
  // Nested rules are checked separately: class-transformer's @Type would need reflect-metadata, which a plain client user may not load.
  const problems = [...validatePlain(ClientOptionRules, rest), ...(isObject(rest.retry) ? validatePlain(RetryRules, rest.retry).map((p) => `retry.${p}`) : [])];
  if (problems.length > 0) throw new SesameConfigError(`Invalid Sesame client options: ${problems.join('; ')}`);
  const axiosClient = axiosClientOf(httpClient);

  const apiKey = options.apiKey ?? env.SESAME_API_KEY;
  if (!apiKey) {
    throw new SesameConfigError('Sesame API key missing: pass the apiKey option or set SESAME_API_KEY');
  }
  // It travels in a header: a line break (a secrets file's trailing newline) would make every request fail to send.
  if (!/^[\x21-\x7e]+$/.test(apiKey)) {
    throw new SesameConfigError('Sesame API key (apiKey / SESAME_API_KEY) holds whitespace, a line break or a non-ASCII character: pass the key exactly as issued');
  }
  const baseUrl = checkBaseUrl(options.baseUrl ?? env.SESAME_BROKER_URL ?? DEFAULT_BROKER_URL, options.allowInsecureHttp ?? false, apiKey);
  return {
    apiKey,
    baseUrl,
    requestTimeout: options.requestTimeout ?? 30_000,
    defaultTimeout: options.defaultTimeout ?? 300_000,
    retry: { ...DEFAULT_RETRY, ...stripUndefined(options.retry ?? {}) },
    maxResponseBytes: options.maxResponseBytes ?? 1024 * 1024,
    httpClient: axiosClient,
  };
}

function checkBaseUrl(raw: string, allowInsecureHttp: boolean, apiKey: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SesameConfigError(`Sesame broker URL is not a valid absolute URL: baseUrl / SESAME_BROKER_URL = ${JSON.stringify(redactSecrets(raw, apiKey).slice(0, 200))}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new SesameConfigError(`Sesame broker URL must use https:// (or http:// on loopback), got ${url.protocol}//`);
  }
  if (url.username || url.password) {
    throw new SesameConfigError('Sesame broker URL must not embed credentials; pass the apiKey option instead');
  }
  if (url.protocol === 'http:' && !isLoopback(url.hostname) && !allowInsecureHttp) {
    throw new SesameConfigError(
      `Refusing plain http:// to ${url.hostname}: the API key would travel unencrypted. Use https://, or set allowInsecureHttp: true if you really mean it`,
    );
  }
  return url.toString().replace(/\/+$/, '');
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}
