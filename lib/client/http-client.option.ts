import { SesameConfigError } from '../errors.js';

/**
 * What the client puts in each axios request config. Described here, not imported: axios is an
 * optional peer, and the package never loads it (the app passes its instance).
 */
export interface SesameAxiosRequestConfig {
  url: string;
  method: string;
  headers: Record<string, string>;
  data?: string;
  signal: AbortSignal;
  timeout: number;
  maxContentLength: number;
  maxRedirects: number;
  validateStatus: null;
  responseType: 'arraybuffer';
  transformRequest: [];
  transformResponse: [];
  allowAbsoluteUrls: boolean;
}

/** What the client reads of an axios response. */
export interface SesameAxiosResponse {
  status: number;
  headers?: unknown;
  data?: unknown;
}

/** An axios instance (`axios.create(...)`), or anything with a `request(config)` shaped like axios's. */
export interface AxiosLikeClient {
  request(config: SesameAxiosRequestConfig): PromiseLike<SesameAxiosResponse>;
}

/** `@nestjs/axios`'s `HttpService`: the client uses its `axiosRef`. */
export interface HttpServiceLike {
  readonly axiosRef: AxiosLikeClient;
}

/** The `httpClient` option: the app's own axios instance, or `@nestjs/axios`'s `HttpService`. */
export type SesameHttpClient = AxiosLikeClient | HttpServiceLike;

const UNUSABLE =
  'Invalid Sesame client options: httpClient: must be an axios instance (axios.create(...)), anything with a request(config) method shaped like axios, or @nestjs/axios HttpService';

/** The axios-shaped client behind the option, or undefined without one; SesameConfigError when it cannot be used. */
export function axiosClientOf(httpClient: unknown): AxiosLikeClient | undefined {
  if (httpClient === undefined) return undefined;
  let candidate: unknown;
  try {
    // HttpService also has a request() of its own, returning an Observable: its axiosRef comes first.
    candidate = isObjectLike(httpClient) && 'axiosRef' in httpClient ? httpClient.axiosRef : httpClient;
    if (isObjectLike(candidate) && typeof (candidate as { request?: unknown }).request === 'function') return candidate as AxiosLikeClient;
  } catch {
    // A getter or proxy that throws: unusable, like anything else without request().
  }
  throw new SesameConfigError(UNUSABLE);
}

function isObjectLike(value: unknown): value is object {
  return (typeof value === 'object' && value !== null) || typeof value === 'function';
}
