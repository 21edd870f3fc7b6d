import { inspect } from 'node:util';
import { Logger, type LoggerService } from '@nestjs/common';
import { SesameConfigError } from '../errors.js';
import { ApprovalStoreUnavailableError, redactCredentials } from './approval-store.errors.js';
import type { ApprovalStore, ClaimOutcome } from './approval-store.interface.js';
import { assertTtl } from './assert-ttl.js';
import { FAIL_FAST_REDIS_OPTIONS, checkRedisUrl, loadIoredis, redisSecrets } from './load-ioredis.js';
import type { RedisClientLike, RedisConnectionEvent, RedisConnectionOptions, RedisConnectionView } from './redis-client.like.js';

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
  /**
   * `redis://[[user]:password@]host[:port][/db]` or `rediss://...` (TLS), reserved characters of the password
   * percent-encoded. Checked before ioredis sees it. Default: ioredis' default, 127.0.0.1:6379.
   */
  url?: string;
  /**
   * ioredis options (host, port, password, tls, ...). Defaults that fail fast while Redis is down:
   * `enableOfflineQueue: false`, `maxRetriesPerRequest: 1`, `connectTimeout: 2_000`.
   */
  connection?: RedisConnectionOptions;
}

/** Set only by connect(): a store made from a client you passed never closes it. */
const FROM_CONNECT = Symbol('fromConnect');
interface FromConnect {
  [FROM_CONNECT]?: { secrets: string[] };
}

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
  protected readonly logger: Pick<LoggerService, 'log' | 'error'>;
  // Private (#): the ioredis client's options hold the password, and a # field shows in no
  // inspection, JSON or property walk. Nothing here hands the client out.
  readonly #client: RedisClientLike;
  readonly #view: RedisConnectionView;
  /** Every spelling of every password configured, scrubbed from whatever text ioredis gives us. */
  readonly #secrets: readonly string[];
  readonly #prefix: string;
  readonly #commandTimeout: number;
  readonly #ownsClient: boolean;
  #available = true;
  #closing = false;
  readonly #onReady = () => this.#markAvailable();
  readonly #onError = (error: unknown) => this.#markUnavailable(this.#describe(error));
  readonly #onClose = () => {
    if (!this.#closing) this.#markUnavailable('connection closed');
  };

  constructor(options: RedisApprovalStoreOptions) {
    this.#client = checkClient(options?.client);
    this.#prefix = checkPrefix(options.keyPrefix);
    this.#commandTimeout = checkTimeout(options.commandTimeout);
    this.logger = options.logger ?? new Logger('SesameApprovalStore');
    const fromConnect = (options as FromConnect)[FROM_CONNECT];
    this.#ownsClient = fromConnect !== undefined;
    // A client you made holds its password in `options` (ioredis): scrub that one too.
    this.#secrets = [...(fromConnect?.secrets ?? []), ...redisSecrets((this.#client as { options?: unknown }).options)];
    this.#view = new ConnectionView(this.#client);
    this.#client.on('ready', this.#onReady);
    // Also keeps ioredis from printing "Unhandled error event" for every reconnection attempt.
    this.#client.on('error', this.#onError);
    this.#client.on('close', this.#onClose);
  }

  /**
   * The connection's status (`ready` when commands can run) and its `connect`, `ready`, `close` and
   * `end` events. Not the ioredis client itself: inspecting that would show its password.
   */
  get client(): RedisConnectionView {
    return this.#view;
  }

  /**
   * Creates an ioredis client (imported on demand), connects it and returns a store that owns it
   * (`close()` quits it). Redis being down at startup does not throw: it is logged, the client keeps
   * reconnecting, and operations fail closed until it is reachable. Options that cannot work throw
   * SesameConfigError, naming the problem without the URL or a password.
   */
  static async connect(options: RedisApprovalStoreConnectOptions = {}): Promise<RedisApprovalStore> {
    const { url, connection, ...storeOptions } = options;
    const secrets = url === undefined ? [] : checkRedisUrl(url);
    if (connection !== undefined && (typeof connection !== 'object' || connection === null)) {
      throw new SesameConfigError('RedisApprovalStore: connection must be an object of ioredis options');
    }
    secrets.push(...redisSecrets(connection));
    checkPrefix(storeOptions.keyPrefix);
    checkTimeout(storeOptions.commandTimeout);
    const Redis = await loadIoredis();
    const settings = { ...FAIL_FAST_REDIS_OPTIONS, ...connection, lazyConnect: true };
    let client: InstanceType<typeof Redis>;
    try {
      client = url === undefined ? new Redis(settings) : new Redis(url, settings);
    } catch (error) {
      // No cause: ioredis' error may carry what it was given.
      throw new SesameConfigError(`RedisApprovalStore: ioredis refused the options: ${redactCredentials(describe(error), secrets)}`);
    }
    const store = new RedisApprovalStore({ ...storeOptions, client, [FROM_CONNECT]: { secrets } } as RedisApprovalStoreOptions);
    try {
      await client.connect();
    } catch (error) {
      store.#markUnavailable(`not reachable at startup (${store.#describe(error)})`);
    }
    return store;
  }

  async claim(key: string, token: string, lease: number): Promise<ClaimOutcome> {
    assertTtl(lease);
    const reply = await this.#run('claim', () => this.#client.call('EVAL', CLAIM_SCRIPT, 1, this.#prefix + key, `claim:${token}`, lease));
    if (reply === 'claimed' || reply === 'held' || reply === 'done') return reply;
    throw new ApprovalStoreUnavailableError('claim', this.#redact(`unexpected reply ${JSON.stringify(reply)}`));
  }

  async renew(key: string, token: string, lease: number): Promise<boolean> {
    assertTtl(lease);
    const reply = await this.#run('renew', () => this.#client.call('EVAL', RENEW_SCRIPT, 1, this.#prefix + key, `claim:${token}`, lease));
    return reply === 1;
  }

  async complete(key: string, token: string, ttl: number): Promise<boolean> {
    assertTtl(ttl);
    const reply = await this.#run('complete', () => this.#client.call('EVAL', COMPLETE_SCRIPT, 1, this.#prefix + key, `claim:${token}`, `done:${token}`, ttl));
    return reply === 1;
  }

  async release(key: string, token: string): Promise<void> {
    await this.#run('release', () => this.#client.call('EVAL', RELEASE_SCRIPT, 1, this.#prefix + key, `claim:${token}`, `done:${token}`));
  }

  /** One PING, bounded by commandTimeout like every command: rejects with ApprovalStoreUnavailableError unless Redis answers PONG. */
  async ping(): Promise<void> {
    const reply = await this.#run('ping', () => this.#client.call('PING'));
    if (reply !== 'PONG') throw new ApprovalStoreUnavailableError('ping', this.#redact(`unexpected reply ${JSON.stringify(reply)}`));
  }

  /** Detaches from the client; quits it too when the store created it. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#client.off('ready', this.#onReady);
    this.#client.off('close', this.#onClose);
    if (this.#ownsClient) {
      // Between reconnection attempts there is no socket: disconnect() just cancels the next attempt and
      // ioredis emits no 'end', so waiting for one only delayed shutdown by commandTimeout.
      const ended = this.#client.status === 'reconnecting' ? undefined : this.#ended();
      // quit() waits for Redis; while it is down, just drop the connection attempts.
      if (this.#client.status === 'ready') await this.#run('quit', () => this.#client.quit()).catch(() => this.#client.disconnect());
      else this.#client.disconnect();
      await ended;
    }
    this.#client.off('error', this.#onError);
  }

  /** What inspecting or serializing the store shows: its settings and state, never the client. */
  toJSON(): { keyPrefix: string; commandTimeout: number; status: string; available: boolean; ownsClient: boolean } {
    return {
      keyPrefix: this.#prefix,
      commandTimeout: this.#commandTimeout,
      status: this.#client.status,
      available: this.#available,
      ownsClient: this.#ownsClient,
    };
  }

  [inspect.custom](_depth: number, options: object, show: typeof inspect = inspect): string {
    return `${this.constructor.name} ${show(this.toJSON(), options)}`;
  }

  /** Resolves when the connection is gone for good (bounded, so shutdown never hangs on Redis). */
  #ended(): Promise<void> {
    if (this.#client.status === 'end') return Promise.resolve();
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.#client.off('end', finish);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#client.disconnect();
        finish();
      }, this.#commandTimeout);
      this.#client.on('end', finish);
    });
  }

  async #run<T>(operation: string, command: () => Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CommandTimeout(this.#commandTimeout)), this.#commandTimeout);
    });
    try {
      const result = await Promise.race([command(), timeout]);
      this.#markAvailable();
      return result;
    } catch (error) {
      const reason = this.#describe(error);
      this.#markUnavailable(reason);
      throw new ApprovalStoreUnavailableError(operation, reason);
    } finally {
      clearTimeout(timer);
    }
  }

  /** An ioredis error's message only (its `command` field holds the arguments, AUTH's among them), scrubbed. */
  #describe(error: unknown): string {
    return this.#redact(describe(error));
  }

  #redact(text: string): string {
    return redactCredentials(text, this.#secrets);
  }

  #markUnavailable(reason: string): void {
    if (!this.#available || this.#closing) return;
    this.#available = false;
    this.logger.error(
      `Approval store (Redis) unreachable: ${reason.replace(/\.+$/, '')}. Failing closed until it is back: gated calls answer 503 and run nothing, ` +
        'decision webhooks answer 503 (the broker redelivers).',
    );
  }

  #markAvailable(): void {
    if (this.#available) return;
    this.#available = true;
    this.logger.log('Approval store (Redis) reachable again');
  }
}

/**
 * What `store.client` hands out: the status and the payload-free lifecycle events. Listeners are
 * wrapped so ioredis never calls them with itself as `this` (nor with an error, which can carry the
 * AUTH arguments).
 */
class ConnectionView implements RedisConnectionView {
  readonly #client: RedisClientLike;
  readonly #wrappers = new WeakMap<() => void, () => void>();

  constructor(client: RedisClientLike) {
    this.#client = client;
  }

  get status(): string {
    return this.#client.status;
  }

  on(event: RedisConnectionEvent, listener: () => void): this {
    checkEvent(event);
    let wrapper = this.#wrappers.get(listener);
    if (!wrapper) {
      wrapper = () => listener();
      this.#wrappers.set(listener, wrapper);
    }
    this.#client.on(event, wrapper);
    return this;
  }

  off(event: RedisConnectionEvent, listener: () => void): this {
    checkEvent(event);
    const wrapper = this.#wrappers.get(listener);
    if (wrapper) this.#client.off(event, wrapper);
    return this;
  }

  toJSON(): { status: string } {
    return { status: this.status };
  }

  [inspect.custom](_depth: number, options: object, show: typeof inspect = inspect): string {
    return `RedisConnectionView ${show(this.toJSON(), options)}`;
  }
}

const CONNECTION_EVENTS: readonly string[] = ['connect', 'ready', 'close', 'end'] satisfies RedisConnectionEvent[];

function checkEvent(event: unknown): void {
  if (!CONNECTION_EVENTS.includes(event as string)) {
    throw new SesameConfigError(`RedisApprovalStore: store.client emits only ${CONNECTION_EVENTS.join(', ')} (errors are logged by the store, redacted)`);
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
