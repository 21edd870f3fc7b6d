import { Logger, type LoggerService } from '@nestjs/common';
import { SesameConfigError } from '../errors.js';
import { ApprovalStoreUnavailableError } from './approval-store.errors.js';
import type { ApprovalStore, ClaimOutcome } from './approval-store.interface.js';
import { assertTtl } from './assert-ttl.js';
import { FAIL_FAST_REDIS_OPTIONS, loadIoredis } from './load-ioredis.js';
import type { RedisClientLike, RedisConnectionOptions } from './redis-client.like.js';

export interface RedisApprovalStoreOptions {
  /** An ioredis client you created. The store never closes it: it is yours. */
  client: RedisClientLike;
  /** Prefix of every key. Default `sesame:`. Give apps that share one Redis but not their approvals distinct prefixes. */
  keyPrefix?: string;
  /** Longest wait for one Redis command before failing closed, in ms. Default 2_000. */
  commandTimeout?: number;
  /** Where outage and recovery are logged. Default: Nest's Logger, context `SesameApprovalStore`. */
  logger?: Pick<LoggerService, 'log' | 'error'>;
}

export interface RedisApprovalStoreConnectOptions extends Omit<RedisApprovalStoreOptions, 'client'> {
  /** `redis://[[user]:password@]host[:port][/db]` or `rediss://...` (TLS). Default: ioredis' default, 127.0.0.1:6379. */
  url?: string;
  /**
   * ioredis options (host, port, password, tls, ...). Defaults that fail fast while Redis is down:
   * `enableOfflineQueue: false`, `maxRetriesPerRequest: 1`, `connectTimeout: 2_000`.
   */
  connection?: RedisConnectionOptions;
}

/** Set only by connect(): a store made from a client you passed never closes it. */
const OWNS_CLIENT = Symbol('ownsClient');

// Values are `claim:<token>` or `done:<token>`. One script per operation: no read-then-write across round trips.
const CLAIM_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 'claimed' end
if string.sub(v, 1, 5) == 'done:' then return 'done' end
return 'held'`;
const RENEW_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`;
const COMPLETE_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] or v == ARGV[2] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end
return 0`;
const RELEASE_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] or v == ARGV[2] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * Approval state in Redis, shared by every replica: claims, renewals, done marks and releases are
 * each one small Lua script. While Redis is unreachable every operation rejects with
 * ApprovalStoreUnavailableError within `commandTimeout` (callers answer 503 and run nothing); ioredis
 * reconnects on its own and the store works again without a restart. Outage and recovery are logged
 * once each (context `SesameApprovalStore`), never with the URL or a password.
 *
 *   new RedisApprovalStore({ client: new Redis(url, { enableOfflineQueue: false }) })
 *   await RedisApprovalStore.connect({ url: process.env.REDIS_URL })
 */
export class RedisApprovalStore implements ApprovalStore {
  /** The ioredis client in use. */
  readonly client: RedisClientLike;
  protected readonly logger: Pick<LoggerService, 'log' | 'error'>;
  private readonly prefix: string;
  private readonly commandTimeout: number;
  private readonly ownsClient: boolean;
  private available = true;
  private closing = false;
  private readonly onReady = () => this.markAvailable();
  private readonly onError = (error: unknown) => this.markUnavailable(describe(error));
  private readonly onClose = () => {
    if (!this.closing) this.markUnavailable('connection closed');
  };

  constructor(options: RedisApprovalStoreOptions) {
    this.client = checkClient(options?.client);
    this.prefix = checkPrefix(options.keyPrefix);
    this.commandTimeout = checkTimeout(options.commandTimeout);
    this.logger = options.logger ?? new Logger('SesameApprovalStore');
    this.ownsClient = (options as { [OWNS_CLIENT]?: boolean })[OWNS_CLIENT] === true;
    this.client.on('ready', this.onReady);
    // Also keeps ioredis from printing "Unhandled error event" for every reconnection attempt.
    this.client.on('error', this.onError);
    this.client.on('close', this.onClose);
  }

  /**
   * Creates an ioredis client (imported on demand), connects it and returns a store that owns it
   * (`close()` quits it). Redis being down at startup does not throw: it is logged, the client keeps
   * reconnecting, and operations fail closed until it is reachable.
   */
  static async connect(options: RedisApprovalStoreConnectOptions = {}): Promise<RedisApprovalStore> {
    const { url, connection, ...storeOptions } = options;
    if (url !== undefined && (typeof url !== 'string' || !/^rediss?:\/\//.test(url))) {
      throw new SesameConfigError('RedisApprovalStore: url must look like redis://host:port or rediss://host:port');
    }
    if (connection !== undefined && (typeof connection !== 'object' || connection === null)) {
      throw new SesameConfigError('RedisApprovalStore: connection must be an object of ioredis options');
    }
    checkPrefix(storeOptions.keyPrefix);
    checkTimeout(storeOptions.commandTimeout);
    const Redis = await loadIoredis();
    const settings = { ...FAIL_FAST_REDIS_OPTIONS, ...connection, lazyConnect: true };
    const client = url === undefined ? new Redis(settings) : new Redis(url, settings);
    const store = new RedisApprovalStore({ ...storeOptions, client, [OWNS_CLIENT]: true } as RedisApprovalStoreOptions);
    try {
      await client.connect();
    } catch (error) {
      store.markUnavailable(`not reachable at startup (${describe(error)})`);
    }
    return store;
  }

  async claim(key: string, token: string, lease: number): Promise<ClaimOutcome> {
    assertTtl(lease);
    const reply = await this.run('claim', () => this.client.call('EVAL', CLAIM_SCRIPT, 1, this.prefix + key, `claim:${token}`, lease));
    if (reply === 'claimed' || reply === 'held' || reply === 'done') return reply;
    throw new ApprovalStoreUnavailableError('claim', `unexpected reply ${JSON.stringify(reply)}`);
  }

  async renew(key: string, token: string, lease: number): Promise<boolean> {
    assertTtl(lease);
    const reply = await this.run('renew', () => this.client.call('EVAL', RENEW_SCRIPT, 1, this.prefix + key, `claim:${token}`, lease));
    return reply === 1;
  }

  async complete(key: string, token: string, ttl: number): Promise<boolean> {
    assertTtl(ttl);
    const reply = await this.run('complete', () =>
      this.client.call('EVAL', COMPLETE_SCRIPT, 1, this.prefix + key, `claim:${token}`, `done:${token}`, ttl),
    );
    return reply === 1;
  }

  async release(key: string, token: string): Promise<void> {
    await this.run('release', () => this.client.call('EVAL', RELEASE_SCRIPT, 1, this.prefix + key, `claim:${token}`, `done:${token}`));
  }

  /** Detaches from the client; quits it too when the store created it. */
  async close(): Promise<void> {
    this.closing = true;
    this.client.off('ready', this.onReady);
    this.client.off('close', this.onClose);
    if (this.ownsClient) {
      const ended = this.ended();
      // quit() waits for Redis; while it is down, just drop the connection attempts.
      if (this.client.status === 'ready') await this.run('quit', () => this.client.quit()).catch(() => this.client.disconnect());
      else this.client.disconnect();
      await ended;
    }
    this.client.off('error', this.onError);
  }

  /** Resolves when the connection is gone for good (bounded, so shutdown never hangs on Redis). */
  private ended(): Promise<void> {
    if (this.client.status === 'end') return Promise.resolve();
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.client.off('end', finish);
        resolve();
      };
      const timer = setTimeout(() => {
        this.client.disconnect();
        finish();
      }, this.commandTimeout);
      this.client.on('end', finish);
    });
  }

  private async run<T>(operation: string, command: () => Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CommandTimeout(this.commandTimeout)), this.commandTimeout);
    });
    try {
      const result = await Promise.race([command(), timeout]);
      this.markAvailable();
      return result;
    } catch (error) {
      const reason = describe(error);
      this.markUnavailable(reason);
      throw new ApprovalStoreUnavailableError(operation, reason);
    } finally {
      clearTimeout(timer);
    }
  }

  private markUnavailable(reason: string): void {
    if (!this.available || this.closing) return;
    this.available = false;
    this.logger.error(
      `Approval store (Redis) unreachable: ${reason}. Failing closed until it is back: async approvals answer 503 and run nothing, ` +
        'decision webhooks answer 503 (the broker redelivers).',
    );
  }

  private markAvailable(): void {
    if (this.available) return;
    this.available = true;
    this.logger.log('Approval store (Redis) reachable again');
  }
}

class CommandTimeout extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
  }
}

function describe(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(error);
}

function checkClient(client: unknown): RedisClientLike {
  const c = client as Partial<RedisClientLike> | null | undefined;
  if (!c || typeof c.call !== 'function' || typeof c.on !== 'function' || typeof c.off !== 'function') {
    throw new SesameConfigError('RedisApprovalStore: client must be an ioredis Redis instance (new Redis(url, { enableOfflineQueue: false }))');
  }
  return c as RedisClientLike;
}

function checkPrefix(prefix: unknown): string {
  if (prefix === undefined) return 'sesame:';
  if (typeof prefix !== 'string' || prefix.length > 100) throw new SesameConfigError('RedisApprovalStore: keyPrefix must be a string of at most 100 characters');
  return prefix;
}

function checkTimeout(ms: unknown): number {
  if (ms === undefined) return 2_000;
  if (!Number.isInteger(ms) || (ms as number) <= 0) throw new SesameConfigError('RedisApprovalStore: commandTimeout must be a positive integer of milliseconds');
  return ms as number;
}
