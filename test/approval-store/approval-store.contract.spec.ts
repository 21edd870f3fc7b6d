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

  it('consumeApproval: true once, false afterwards; ids are independent', async () => {
    await expect(store.consumeApproval('apr_1', 60_000)).resolves.toBe(true);
    await expect(store.consumeApproval('apr_1', 60_000)).resolves.toBe(false);
    await expect(store.consumeApproval('apr_2', 60_000)).resolves.toBe(true);
  });

  it('consumeApproval: of 100 concurrent callers exactly one wins', async () => {
    const results = await Promise.all(Array.from({ length: 100 }, () => store.consumeApproval('apr_race', 60_000)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('claimWebhook: claimed, then processing for others, done once completed', async () => {
    await expect(store.claimWebhook('msg_1', 'token-a', 60_000)).resolves.toBe('claimed');
    await expect(store.claimWebhook('msg_1', 'token-b', 60_000)).resolves.toBe('processing');
    await store.completeWebhook('msg_1', 60_000);
    await expect(store.claimWebhook('msg_1', 'token-c', 60_000)).resolves.toBe('done');
  });

  it('releaseWebhook frees only the claim of the same token', async () => {
    await expect(store.claimWebhook('msg_2', 'token-a', 60_000)).resolves.toBe('claimed');
    await store.releaseWebhook('msg_2', 'token-b');
    await expect(store.claimWebhook('msg_2', 'token-c', 60_000)).resolves.toBe('processing');
    await store.releaseWebhook('msg_2', 'token-a');
    await expect(store.claimWebhook('msg_2', 'token-d', 60_000)).resolves.toBe('claimed');
  });

  it('releaseWebhook never undoes a completed webhook, even with the token that claimed it', async () => {
    await store.claimWebhook('msg_3', 'token-a', 60_000);
    await store.completeWebhook('msg_3', 60_000);
    await store.releaseWebhook('msg_3', 'token-a');
    await expect(store.claimWebhook('msg_3', 'token-b', 60_000)).resolves.toBe('done');
  });

  it('a token that reads "done" cannot pass for a completed webhook', async () => {
    await expect(store.claimWebhook('msg_4', 'done', 60_000)).resolves.toBe('claimed');
    await expect(store.claimWebhook('msg_4', 'other', 60_000)).resolves.toBe('processing');
  });

  it('of 50 concurrent claims of one webhook id exactly one is claimed', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.claimWebhook('msg_race', `t${i}`, 60_000)));
    expect(results.filter((r) => r === 'claimed')).toHaveLength(1);
    expect(results.filter((r) => r === 'processing')).toHaveLength(49);
  });

  it('refuses a ttl that is not a positive integer of milliseconds', async () => {
    await expect(store.consumeApproval('apr_bad', 0)).rejects.toThrow(RangeError);
    await expect(store.consumeApproval('apr_bad', 1.5)).rejects.toThrow('positive integer of milliseconds');
    await expect(store.claimWebhook('msg_bad', 't', -1)).rejects.toThrow(RangeError);
    await expect(store.completeWebhook('msg_bad', Number.NaN)).rejects.toThrow(RangeError);
    // Nothing was written by the refused calls.
    await expect(store.consumeApproval('apr_bad', 1_000)).resolves.toBe(true);
  });
});

describe('InMemoryApprovalStore expiry', () => {
  let now = 1_000_000;
  const store = new InMemoryApprovalStore({ now: () => now });

  it('forgets a used approval after its ttl', async () => {
    await expect(store.consumeApproval('apr_ttl', 5_000)).resolves.toBe(true);
    now += 4_999;
    await expect(store.consumeApproval('apr_ttl', 5_000)).resolves.toBe(false);
    now += 1;
    await expect(store.consumeApproval('apr_ttl', 5_000)).resolves.toBe(true);
  });

  it('a lapsed webhook claim can be claimed again (its holder crashed); a completed id lasts its own ttl', async () => {
    await expect(store.claimWebhook('msg_ttl', 'a', 1_000)).resolves.toBe('claimed');
    now += 1_000;
    await expect(store.claimWebhook('msg_ttl', 'b', 1_000)).resolves.toBe('claimed');
    await store.completeWebhook('msg_ttl', 10_000);
    now += 9_999;
    await expect(store.claimWebhook('msg_ttl', 'c', 1_000)).resolves.toBe('done');
    now += 1;
    await expect(store.claimWebhook('msg_ttl', 'c', 1_000)).resolves.toBe('claimed');
  });

  it('drops expired entries as it writes, so memory stays bounded', async () => {
    const sweeping = new InMemoryApprovalStore({ now: () => now });
    for (let i = 0; i < 1_000; i++) await sweeping.consumeApproval(`apr_${i}`, 1_000);
    expect(sweeping.size).toBe(1_000);
    now += 61_000;
    expect(sweeping.size).toBe(0);
    await sweeping.consumeApproval('apr_new', 1_000);
    expect((sweeping as unknown as { entries: Map<string, unknown> }).entries.size).toBe(1);
  });
});
