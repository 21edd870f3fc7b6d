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
