import { SesameConfigError } from '../errors.js';
import type { RedisClientLike, RedisConnectionOptions } from './redis-client.like.js';

type RedisConstructor = new (...args: unknown[]) => RedisClientLike & { connect(): Promise<void> };

/**
 * Loads ioredis only when a Redis store is selected: it is an optional peer dependency, so apps on the
 * in-memory store never need it installed.
 */
export async function loadIoredis(): Promise<RedisConstructor> {
  let loaded: unknown;
  try {
    loaded = await import('ioredis');
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new SesameConfigError('SesameModule: store type "redis" needs the ioredis package: npm install ioredis');
    }
    throw error;
  }
  // ESM import of a CommonJS package: the class is a named export, the default export, or default.default.
  const module = loaded as { Redis?: unknown; default?: { Redis?: unknown } | unknown };
  const candidate = module.Redis ?? (module.default as { Redis?: unknown } | undefined)?.Redis ?? module.default;
  if (typeof candidate !== 'function') {
    throw new SesameConfigError('SesameModule: the installed ioredis package does not export a Redis client class (need ioredis 5 or 6)');
  }
  return candidate as RedisConstructor;
}

/** Fail fast while disconnected: a queued command could otherwise run after its request already answered 503. */
export const FAIL_FAST_REDIS_OPTIONS: RedisConnectionOptions = Object.freeze({
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2_000,
});

/** Lowercase only: ioredis turns TLS on for `rediss://` as written, so `REDISS://` would connect in the clear. */
const REDIS_URL_SCHEME = /^rediss?:\/\//;
const URL_SHAPE = 'expected redis://[[user]:password@]host[:port][/db], or rediss://... for TLS, with reserved characters of the password percent-encoded';

/**
 * Checks a Redis URL before ioredis sees it: ioredis would throw Node's ERR_INVALID_URL, whose `input`
 * field is the whole URL, password included. Errors name the problem, never the URL. Returns every
 * spelling of the secrets the URL holds, to scrub from messages.
 */
export function checkRedisUrl(url: unknown): string[] {
  if (typeof url !== 'string' || !REDIS_URL_SCHEME.test(url)) {
    throw new SesameConfigError('RedisApprovalStore: url must look like redis://host:port or rediss://host:port');
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not rethrown, not kept as cause: Node's error carries the URL.
    throw new SesameConfigError(`RedisApprovalStore: url is not a valid URL (${URL_SHAPE})`);
  }
  if (parsed.hostname === '') throw new SesameConfigError(`RedisApprovalStore: url has no host (${URL_SHAPE})`);
  // The password as typed too (the parser may re-encode it).
  const typed = /^rediss?:\/\/[^/?#:@]*:([^/?#]*)@/.exec(url)?.[1] ?? '';
  const secrets = [parsed.password, typed];
  try {
    decodeURIComponent(parsed.username);
    secrets.push(decodeURIComponent(parsed.password));
  } catch {
    throw new SesameConfigError('RedisApprovalStore: the user name or password in url is not valid percent-encoding (encode them with encodeURIComponent)');
  }
  if (!/^(\/\d*)?$/.test(parsed.pathname)) {
    throw new SesameConfigError('RedisApprovalStore: the path of url must be a database number, as in redis://host:6379/0');
  }
  // ioredis reads options from the query too (?password=...).
  for (const [key, value] of parsed.searchParams) if (SECRET_KEY.test(key)) secrets.push(value);
  return spellings(secrets.filter((secret) => secret.length > 0));
}

const SECRET_KEY = /pass|secret|token/i;

/**
 * Every secret in ioredis options (password, sentinelPassword, tls passphrase, ... at any depth of
 * plain objects and arrays), in every spelling that could appear in a message.
 */
export function redisSecrets(options: unknown): string[] {
  const found: string[] = [];
  const visit = (value: unknown, depth: number) => {
    if (depth > 4 || typeof value !== 'object' || value === null) return;
    if (!Array.isArray(value) && Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return;
    for (const [key, inner] of Object.entries(value)) {
      if (typeof inner === 'string' && inner.length > 0 && SECRET_KEY.test(key)) found.push(inner);
      else visit(inner, depth + 1);
    }
  };
  visit(options, 0);
  return spellings(found);
}

/** As given, percent-encoded (encodeURIComponent), and as a URL's password field encodes it. */
function spellings(secrets: string[]): string[] {
  const all = new Set<string>();
  for (const secret of secrets) {
    const url = new URL('redis://host');
    url.password = secret;
    all.add(secret).add(encodeURIComponent(secret)).add(url.password);
  }
  return [...all];
}
