import { randomUUID } from 'node:crypto';
import { InMemoryApprovalStore, RedisApprovalStore, type ApprovalStore } from '../../lib/index.js';
import { RedisServer } from '../support/redis-server.js';

/** The behaviour every ApprovalStore must have, run against each implementation over real backends. */
const KINDS = ['memory', 'redis'] as const;

describe.each(KINDS)('ApprovalStore contract (%s)', (kind) => {
  let redis: RedisServer | undefined;
  let store: ApprovalStore;

  beforeAll(async () => {
    if (kind === 'redis') redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  beforeEach(async () => {
    store =
      kind === 'redis'
        ? await RedisApprovalStore.connect({ url: redis!.url, keyPrefix: `t-${randomUUID()}:`, logger: { log() {}, error() {} } })
        : new InMemoryApprovalStore();
  });
  afterEach(async () => {
    await store.close?.();
  });

  it('claim: claimed, then held for other tokens, done once completed; keys are independent', async () => {
    await expect(store.claim('k1', 'token-a', 60_000)).resolves.toBe('claimed');
    await expect(store.claim('k1', 'token-b', 60_000)).resolves.toBe('held');
    await expect(store.claim('k2', 'token-b', 60_000)).resolves.toBe('claimed');
    await expect(store.complete('k1', 'token-a', 60_000)).resolves.toBe(true);
    await expect(store.claim('k1', 'token-c', 60_000)).resolves.toBe('done');
    await expect(store.claim('k1', 'token-a', 60_000)).resolves.toBe('done');
  });

  it('claim and complete asked again with the same token answer the same (a lost answer can be found again)', async () => {
    await expect(store.claim('k3', 'token-a', 60_000)).resolves.toBe('claimed');
    await expect(store.claim('k3', 'token-a', 60_000)).resolves.toBe('claimed');
    await expect(store.complete('k3', 'token-a', 60_000)).resolves.toBe(true);
    await expect(store.complete('k3', 'token-a', 60_000)).resolves.toBe(true);
  });

  it('complete writes nothing for a token that does not hold the key', async () => {
    await expect(store.complete('k4', 'token-a', 60_000)).resolves.toBe(false);
    await expect(store.claim('k4', 'token-a', 60_000)).resolves.toBe('claimed');
    await expect(store.complete('k4', 'token-b', 60_000)).resolves.toBe(false);
    await expect(store.claim('k4', 'token-c', 60_000)).resolves.toBe('held');
  });

  it('release frees only the claim or done mark of the same token', async () => {
    await expect(store.claim('k5', 'token-a', 60_000)).resolves.toBe('claimed');
    await store.release('k5', 'token-b');
    await expect(store.claim('k5', 'token-c', 60_000)).resolves.toBe('held');
    await store.release('k5', 'token-a');
    await expect(store.claim('k5', 'token-d', 60_000)).resolves.toBe('claimed');
    await store.complete('k5', 'token-d', 60_000);
    await store.release('k5', 'token-a');
    await expect(store.claim('k5', 'token-e', 60_000)).resolves.toBe('done');
    await store.release('k5', 'token-d');
    await expect(store.claim('k5', 'token-e', 60_000)).resolves.toBe('claimed');
  });

  it('renew extends only a claim the token still holds', async () => {
    await expect(store.renew('k6', 'token-a', 60_000)).resolves.toBe(false);
    await store.claim('k6', 'token-a', 60_000);
    await expect(store.renew('k6', 'token-a', 60_000)).resolves.toBe(true);
    await expect(store.renew('k6', 'token-b', 60_000)).resolves.toBe(false);
    await store.complete('k6', 'token-a', 60_000);
    await expect(store.renew('k6', 'token-a', 60_000)).resolves.toBe(false);
  });

  it('a token that reads like a state cannot pass for one', async () => {
    await expect(store.claim('k7', 'done', 60_000)).resolves.toBe('claimed');
    await expect(store.claim('k7', 'other', 60_000)).resolves.toBe('held');
    await expect(store.claim('k8', 'done:x', 60_000)).resolves.toBe('claimed');
    await expect(store.claim('k8', 'x', 60_000)).resolves.toBe('held');
  });

  it('of 100 concurrent claims of one key exactly one is claimed', async () => {
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => store.claim('k_race', `t${i}`, 60_000)));
    expect(results.filter((r) => r === 'claimed')).toHaveLength(1);
    expect(results.filter((r) => r === 'held')).toHaveLength(99);
  });

  it('refuses a ttl that is not a positive integer of milliseconds', async () => {
    await expect(store.claim('k_bad', 't', 0)).rejects.toThrow(RangeError);
    await expect(store.claim('k_bad', 't', 1.5)).rejects.toThrow('positive integer of milliseconds');
    await expect(store.renew('k_bad', 't', -1)).rejects.toThrow(RangeError);
    await expect(store.complete('k_bad', 't', Number.NaN)).rejects.toThrow(RangeError);
    // Nothing was written by the refused calls.
    await expect(store.claim('k_bad', 'u', 1_000)).resolves.toBe('claimed');
  });
});

describe('InMemoryApprovalStore expiry', () => {
  let now = 1_000_000;
  const store = new InMemoryApprovalStore({ now: () => now });

  it('a lapsed claim can be claimed again (its holder crashed); a renewed one lasts; a done mark lasts its own ttl', async () => {
    await expect(store.claim('msg_ttl', 'a', 1_000)).resolves.toBe('claimed');
    now += 1_000;
    await expect(store.claim('msg_ttl', 'b', 1_000)).resolves.toBe('claimed');
    now += 900;
    await expect(store.renew('msg_ttl', 'b', 1_000)).resolves.toBe(true);
    now += 900;
    await expect(store.claim('msg_ttl', 'c', 1_000)).resolves.toBe('held');
    await store.complete('msg_ttl', 'b', 10_000);
    now += 9_999;
    await expect(store.claim('msg_ttl', 'c', 1_000)).resolves.toBe('done');
    now += 1;
    await expect(store.claim('msg_ttl', 'c', 1_000)).resolves.toBe('claimed');
  });

  it('drops expired entries as it writes, so memory stays bounded', async () => {
    const sweeping = new InMemoryApprovalStore({ now: () => now });
    for (let i = 0; i < 1_000; i++) await sweeping.claim(`apr_${i}`, 't', 1_000);
    expect(sweeping.size).toBe(1_000);
    now += 61_000;
    expect(sweeping.size).toBe(0);
    await sweeping.claim('apr_new', 't', 1_000);
    expect((sweeping as unknown as { entries: Map<string, unknown> }).entries.size).toBe(1);
  });
});
