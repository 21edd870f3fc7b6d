import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import { Redis } from 'ioredis';
import { ApprovalStoreUnavailableError, RedisApprovalStore, SesameConfigError, type RedisClientLike } from '../../lib/index.js';
import { RedisServer, whenRedisReady } from '../support/redis-server.js';

/** Collects what the store logs. */
class LogLines {
  readonly lines: string[] = [];
  log(message: unknown): void {
    this.lines.push(`log ${String(message)}`);
  }
  error(message: unknown): void {
    this.lines.push(`error ${String(message)}`);
  }
}

describe('RedisApprovalStore against a real redis-server', () => {
  let redis: RedisServer;
  const prefix = () => `t-${randomUUID()}:`;

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('keeps claims and done marks under its key prefix with the ttl it was given', async () => {
    const keyPrefix = prefix();
    const store = await RedisApprovalStore.connect({ url: redis.url, keyPrefix });
    // The store hands out no client (its options hold the password): read the keys with one of ours.
    const reader = new Redis(redis.url);
    const pttl = async (key: string) => Number(await reader.pttl(`${keyPrefix}${key}`));
    try {
      await store.claim('approval:apr_ttl', 'tok', 90_000);
      await store.claim('webhook:msg_ttl', 'tok', 30_000);
      const approvalTtl = await pttl('approval:apr_ttl');
      const claimTtl = await pttl('webhook:msg_ttl');
      expect(approvalTtl).toBeGreaterThan(80_000);
      expect(approvalTtl).toBeLessThanOrEqual(90_000);
      expect(claimTtl).toBeGreaterThan(20_000);
      expect(claimTtl).toBeLessThanOrEqual(30_000);
      await store.renew('webhook:msg_ttl', 'tok', 50_000);
      expect(await pttl('webhook:msg_ttl')).toBeGreaterThan(40_000);
      await store.complete('webhook:msg_ttl', 'tok', 600_000);
      expect(await reader.get(`${keyPrefix}webhook:msg_ttl`)).toBe('done:tok');
      expect(await pttl('webhook:msg_ttl')).toBeGreaterThan(590_000);
    } finally {
      await reader.quit();
      await store.close();
    }
  });

  it('two stores on one Redis share state under one prefix and nothing under two', async () => {
    const shared = prefix();
    const [a, b, other] = await Promise.all([
      RedisApprovalStore.connect({ url: redis.url, keyPrefix: shared }),
      RedisApprovalStore.connect({ url: redis.url, keyPrefix: shared }),
      RedisApprovalStore.connect({ url: redis.url, keyPrefix: prefix() }),
    ]);
    try {
      await expect(a.claim('approval:apr_x', 'a', 60_000)).resolves.toBe('claimed');
      await expect(b.claim('approval:apr_x', 'b', 60_000)).resolves.toBe('held');
      await expect(other.claim('approval:apr_x', 'b', 60_000)).resolves.toBe('claimed');
    } finally {
      await Promise.all([a.close(), b.close(), other.close()]);
    }
  });

  it('uses a client you pass, and leaves it open on close()', async () => {
    const client = new Redis(redis.url, { enableOfflineQueue: false, lazyConnect: true });
    await client.connect();
    const store = new RedisApprovalStore({ client, keyPrefix: prefix() });
    await expect(store.claim('approval:apr_own', 't', 60_000)).resolves.toBe('claimed');
    await store.close();
    expect(client.status).toBe('ready');
    expect(await client.ping()).toBe('PONG');
    await client.quit();
  });

  it('closes the client it created itself', async () => {
    const store = await RedisApprovalStore.connect({ url: redis.url });
    expect(store.client.status).toBe('ready');
    await store.close();
    expect(store.client.status).toBe('end');
  });

  it('fails closed while Redis is down, logs the outage and the recovery once each, and works again without a restart', async () => {
    const logs = new LogLines();
    const store = await RedisApprovalStore.connect({ url: redis.url, keyPrefix: prefix(), logger: logs });
    try {
      await expect(store.claim('approval:apr_before', 't', 60_000)).resolves.toBe('claimed');

      await redis.stop();
      const started = Date.now();
      const failures = await Promise.all(
        [
          store.claim('approval:apr_during', 'tok', 60_000),
          store.renew('webhook:msg_during', 'tok', 60_000),
          store.complete('webhook:msg_during', 'tok', 60_000),
          store.release('webhook:msg_during', 'tok'),
        ].map((p) =>
          p.then(
            () => 'resolved',
            (error: unknown) => error,
          ),
        ),
      );
      for (const failure of failures) expect(failure).toBeInstanceOf(ApprovalStoreUnavailableError);
      expect((failures[0] as Error).message).toMatch(/^The approval store is unavailable \(claim\): /);
      // Fails fast: no offline queue, no waiting for a reconnection.
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(logs.lines.filter((l) => l.startsWith('error'))).toEqual([expect.stringMatching(/^error Approval store \(Redis\) unreachable: .*Failing closed/)]);

      await redis.start();
      await whenRedisReady(store.client);
      await expect(store.claim('approval:apr_after', 't', 60_000)).resolves.toBe('claimed');
      expect(logs.lines.filter((l) => l.includes('reachable again'))).toHaveLength(1);
      expect(logs.lines.join('\n')).not.toContain(redis.url);
    } finally {
      await store.close();
      if (!redis.running) await redis.start();
    }
  });

  it('starts while Redis is down (logged, fails closed) and works once it comes up', async () => {
    await redis.stop();
    const logs = new LogLines();
    const store = await RedisApprovalStore.connect({ url: redis.url, keyPrefix: prefix(), logger: logs });
    try {
      expect(logs.lines).toEqual([expect.stringMatching(/^error Approval store \(Redis\) unreachable: .*ECONNREFUSED/)]);
      await expect(store.claim('approval:apr_1', 't', 60_000)).rejects.toBeInstanceOf(ApprovalStoreUnavailableError);
      await redis.start();
      await whenRedisReady(store.client);
      await expect(store.claim('approval:apr_1', 't', 60_000)).resolves.toBe('claimed');
    } finally {
      await store.close();
      if (!redis.running) await redis.start();
    }
  });

  it('close() between reconnection attempts returns at once (ioredis emits no end to wait for)', async () => {
    await redis.stop();
    const store = await RedisApprovalStore.connect({ url: redis.url, logger: new LogLines() });
    try {
      while (store.client.status !== 'reconnecting') await new Promise((resolve) => setTimeout(resolve, 10));
      const started = Date.now();
      await store.close();
      // Was commandTimeout (2 s): the wait for an 'end' that never comes.
      expect(Date.now() - started).toBeLessThan(500);
    } finally {
      await redis.start();
    }
  });

  it('fails closed after commandTimeout when Redis is connected but does not answer', async () => {
    const store = await RedisApprovalStore.connect({ url: redis.url, keyPrefix: prefix(), commandTimeout: 200, logger: new LogLines() });
    const admin = new Redis(redis.url);
    try {
      // Holds every write command server-side, as an overloaded or stuck Redis would.
      await admin.call('CLIENT', 'PAUSE', '5000', 'WRITE');
      const started = Date.now();
      await expect(store.claim('approval:apr_slow', 't', 60_000)).rejects.toThrow(/no answer within 200 ms/);
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await admin.call('CLIENT', 'UNPAUSE');
      await admin.quit();
      await store.close();
    }
  });

  it('hands out no client: store.client relays the status and payload-free events; inspect and JSON are a summary', async () => {
    const store = await RedisApprovalStore.connect({ url: redis.url, keyPrefix: 'view:' });
    const calls: unknown[][] = [];
    function listener(this: unknown, ...args: unknown[]) {
      calls.push([this, ...args]);
    }
    try {
      expect(store.client.status).toBe('ready');
      expect(store.client.on('close', listener).on('end', listener)).toBe(store.client);
      expect(() => store.client.on('error' as 'close', listener)).toThrow(SesameConfigError);
      expect(store.toJSON()).toEqual({ keyPrefix: 'view:', commandTimeout: 2_000, status: 'ready', available: true, ownsClient: true });
      expect(JSON.parse(JSON.stringify(store))).toEqual(store.toJSON());
      expect(inspect(store, { breakLength: Infinity })).toBe(
        "RedisApprovalStore { keyPrefix: 'view:', commandTimeout: 2000, status: 'ready', available: true, ownsClient: true }",
      );
      expect(inspect(store.client)).toBe("RedisConnectionView { status: 'ready' }");
      expect(Object.keys(store)).toEqual(['logger']);
    } finally {
      await store.close();
    }
    // Called without arguments and without the ioredis client as `this`, once per registration.
    expect(calls).toEqual([[undefined], [undefined]]);
    expect(store.client.status).toBe('end');
  });

  it('refuses unusable options with a typed error', async () => {
    await expect(RedisApprovalStore.connect({ url: 'http://127.0.0.1:6379' })).rejects.toBeInstanceOf(SesameConfigError);
    await expect(RedisApprovalStore.connect({ url: 'REDISS://127.0.0.1:6379' })).rejects.toThrow('url must look like redis://');
    await expect(RedisApprovalStore.connect({ url: 'redis://127.0.0.1:6379x' })).rejects.toThrow('url is not a valid URL');
    await expect(RedisApprovalStore.connect({ url: 'redis://127.0.0.1:6379/zero' })).rejects.toThrow('must be a database number');
    await expect(RedisApprovalStore.connect({ url: redis.url, commandTimeout: 0 })).rejects.toThrow('commandTimeout must be a positive integer');
    await expect(RedisApprovalStore.connect({ connection: 'nope' as unknown as Record<string, unknown> })).rejects.toThrow(SesameConfigError);
    expect(() => new RedisApprovalStore({ client: {} as RedisClientLike })).toThrow('client must be an ioredis Redis instance');
    const client = new Redis(redis.url, { lazyConnect: true });
    expect(() => new RedisApprovalStore({ client, keyPrefix: 42 as unknown as string })).toThrow('keyPrefix must be a string');
    client.disconnect();
  });
});
