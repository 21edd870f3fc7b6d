import { randomUUID } from 'node:crypto';
import { Body, Controller, Post } from '@nestjs/common';
import { ApprovalStore, InMemoryApprovalStore, RedisApprovalStore, RequireApproval, SesameModule, type ApprovalStoreOption } from '../../lib/index.js';
import { keepClaimed } from '../../lib/approval-store/keep-claimed.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { startApp, type StartedApp } from '../support/nest-apps.js';
import { RedisServer } from '../support/redis-server.js';
import { Ledger } from '../support/ledger.js';

/**
 * Second outside review: the single use of an approval through the store's claim tokens. Another
 * replica (stalled between its claim and its confirmation, or done) and a caller guessing tokens
 * never make an approval run twice, nor run while someone else holds it. In memory and on a real
 * redis-server. All refused.
 */
const API_KEY = 'sk_test_SECRET_attack2_store_0f42';

@Controller()
class RefundsController {
  constructor(private readonly ledger: Ledger) {}

  @Post('refunds')
  @RequireApproval('refunds2.issue', { mode: 'async', summary: (body: { amount: number }) => `Refund ${body.amount}` })
  issue(@Body() body: { amount: number }) {
    this.ledger.ran.push(`refund:${body.amount}`);
    return { refunded: body.amount };
  }
}

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis.stop();
});

describe.each(['memory', 'redis'] as const)('single use through claim tokens (%s store)', (kind) => {
  let broker: LocalBroker;
  let started: StartedApp;
  let store: ApprovalStore;

  beforeEach(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY] });
    const option: ApprovalStoreOption = kind === 'memory' ? { type: 'memory' } : { type: 'redis', url: redis.url, keyPrefix: `a2-${randomUUID()}:` };
    started = await startApp('express', {
      imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl: broker.url, env: {}, store: option })],
      controllers: [RefundsController],
      providers: [Ledger],
    });
    store = started.app.get<ApprovalStore>(ApprovalStore);
  });
  afterEach(async () => {
    await started.app.close();
    await broker.stop();
  });

  const post = async (body: unknown, id?: string) => {
    const res = await fetch(`${started.url}/refunds`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(id !== undefined && { 'sesame-approval-id': id }) },
      body: JSON.stringify(body),
    });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Record<string, unknown> };
  };
  const approved = async () => {
    const first = await post({ amount: 10 });
    expect(first.status).toBe(202);
    const id = first.body.approvalId as string;
    await broker.approve(id);
    return id;
  };
  const ran = () => started.app.get(Ledger).ran;

  it('another replica stalled between claim and confirmation: 409 in use; once it confirmed: 409 used; never run here', async () => {
    const id = await approved();
    const replica = randomUUID();
    expect(await store.claim(`approval:${id}`, replica, 30_000)).toBe('claimed');

    const inUse = await post({ amount: 10 }, id);
    expect(inUse).toMatchObject({ status: 409, body: { code: 'approval_in_use', approvalId: id } });
    expect(Number(inUse.retryAfter)).toBeGreaterThanOrEqual(1);

    // Guessed tokens neither free, renew nor complete the replica's claim.
    for (const guess of ['', 'claim', `claim:${replica}`, replica.toUpperCase(), '*']) {
      await store.release(`approval:${id}`, guess);
      expect(await store.renew(`approval:${id}`, guess, 30_000)).toBe(false);
      expect(await store.complete(`approval:${id}`, guess, 60_000)).toBe(false);
    }
    expect((await post({ amount: 10 }, id)).body.code).toBe('approval_in_use');

    expect(await store.complete(`approval:${id}`, replica, 60_000)).toBe(true);
    expect(await post({ amount: 10 }, id)).toMatchObject({ status: 409, body: { code: 'approval_already_used' } });
    expect(ran()).toEqual([]);
  });

  it('a replica that gave its claim back (nothing ran there): the approval runs here, exactly once', async () => {
    const id = await approved();
    const replica = randomUUID();
    await store.claim(`approval:${id}`, replica, 30_000);
    await store.release(`approval:${id}`, replica);
    const results = await Promise.all(Array.from({ length: 8 }, () => post({ amount: 10 }, id)));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status !== 201).every((r) => r.status === 409)).toBe(true);
    expect(ran()).toEqual(['refund:10']);
  });

  it('a used mark cannot be turned back into a claim: not by claiming, renewing or releasing with another token', async () => {
    const id = await approved();
    expect((await post({ amount: 10 }, id)).status).toBe(201);
    const key = `approval:${id}`;
    for (const guess of [randomUUID(), 'done', '']) {
      expect(await store.claim(key, guess, 30_000)).toBe('done');
      expect(await store.renew(key, guess, 30_000)).toBe(false);
      await store.release(key, guess);
    }
    expect((await post({ amount: 10 }, id)).body.code).toBe('approval_already_used');
    expect(ran()).toEqual(['refund:10']);
  });

  it('keepClaimed: a long-running holder keeps its claim past the lease; competitors stay "held"; a lost claim is reported once', async () => {
    const key = `webhook:msg_${randomUUID()}`;
    const holder = randomUUID();
    const lost: string[] = [];
    expect(await store.claim(key, holder, 300)).toBe('claimed');
    const renewal = keepClaimed(store, key, holder, 300, (reason) => lost.push(reason));
    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await store.claim(key, randomUUID(), 300)).toBe('held');
    }
    expect(lost).toEqual([]);
    // The holder's claim is taken from it (released by its own token, as a crashed-and-restarted holder would find it gone).
    await store.release(key, holder);
    expect(await store.claim(key, 'competitor', 60_000)).toBe('claimed');
    await new Promise((resolve) => setTimeout(resolve, 250));
    renewal.stop();
    expect(lost).toHaveLength(1);
    // Its renewals never took the key back from the competitor, nor could it complete over it.
    expect(await store.complete(key, holder, 60_000)).toBe(false);
    expect(await store.claim(key, 'someone-else', 60_000)).toBe('held');
    expect(await store.complete(key, 'competitor', 60_000)).toBe(true);
  }, 10_000);
});

describe('claim tokens that read like states or keys (direct store use)', () => {
  it.each(['memory', 'redis'] as const)('%s: a token "done:x" or "claim:x" cannot pass for a state of another token', async (kind) => {
    const store: ApprovalStore = kind === 'memory' ? new InMemoryApprovalStore() : await RedisApprovalStore.connect({ url: redis.url, keyPrefix: `a2t-${randomUUID()}:` });
    try {
      const key = 'approval:apr_tokens';
      expect(await store.claim(key, 'x', 30_000)).toBe('claimed');
      // "claim:x" is how the store spells x's claim: as a token, it is just another token.
      expect(await store.claim(key, 'claim:x', 30_000)).toBe('held');
      expect(await store.complete(key, 'claim:x', 30_000)).toBe(false);
      expect(await store.complete(key, 'x', 30_000)).toBe(true);
      // "done:x" is how the store spells x's done mark.
      expect(await store.claim(key, 'done:x', 30_000)).toBe('done');
      await store.release(key, 'done:x');
      await store.release(key, ':x');
      expect(await store.claim(key, 'y', 30_000)).toBe('done');
    } finally {
      await store.close?.();
    }
  });
});
