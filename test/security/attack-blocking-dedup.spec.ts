import { Body, Controller, Post, UseGuards } from '@nestjs/common';
import { IsInt, IsString, Min } from 'class-validator';
import { RequireApproval } from '../../lib/index.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { ADAPTERS, type StartedApp } from '../support/nest-apps.js';
import { startGatedApp } from '../support/gated-app.js';
import { HeaderAuthGuard } from '../support/header-auth.guard.js';
import { Ledger } from '../support/ledger.js';

/**
 * Outsider attacks on blocking mode with a caller-chosen dedup key (an idempotency key from the
 * request body), all refused: concurrent identical calls, the same key with other arguments or from
 * another user, keys that look like the gate's reserved namespace, and keys far longer than the
 * broker accepts. Real Nest apps (Express and Fastify) and the real local broker.
 */
const API_KEY = 'sk_test_SECRET_attack_blocking_51f0';

class RefundDto {
  @IsInt() @Min(1) amount!: number;
  @IsString() key!: string;
}

@Controller()
@UseGuards(HeaderAuthGuard)
class RefundsController {
  constructor(private readonly ledger: Ledger) {}

  @Post('refunds')
  @RequireApproval('payments.refund', { summary: (dto: RefundDto) => `Refund $${dto.amount}`, dedupKey: (dto: RefundDto) => dto.key, timeout: 8_000 })
  refund(@Body() dto: RefundDto) {
    this.ledger.ran.push(`refund:${dto.amount}`);
    return { refunded: dto.amount };
  }
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

describe.each(ADAPTERS)('blocking mode with a caller-chosen dedup key (%s)', (adapter) => {
  let broker: LocalBroker;
  let started: StartedApp;
  let ledger: Ledger;

  beforeEach(async () => {
    ({ broker, started } = await startGatedApp(adapter, {
      apiKey: API_KEY,
      controllers: [RefundsController],
      providers: [Ledger, HeaderAuthGuard],
      validation: { transform: true, whitelist: true },
    }));
    ledger = started.app.get(Ledger);
  });
  afterEach(async () => {
    await started.app.close();
    await broker.stop();
  });

  const post = async (body: unknown, user?: string): Promise<Answer> => {
    const res = await fetch(`${started.url}/refunds`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(user !== undefined && { 'x-user': user }) },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  const waitForPending = async (count: number) => {
    for (let i = 0; i < 200 && broker.list({ status: 'pending' }).length < count; i++) await new Promise((r) => setTimeout(r, 20));
    expect(broker.list({ status: 'pending' })).toHaveLength(count);
  };

  it('12 concurrent identical calls sharing a key: one approval, one run; every other call is refused with 409', async () => {
    const calls = Array.from({ length: 12 }, () => post({ amount: 10, key: 'idem-1' }, 'alice'));
    await waitForPending(1);
    await broker.approve(broker.list()[0].id);
    const answers = await Promise.all(calls);
    expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
    for (const answer of answers.filter((a) => a.status !== 201)) {
      expect(answer.status).toBe(409);
      expect(['approval_already_used', 'approval_in_use']).toContain(answer.body.code);
    }
    expect(broker.list()).toHaveLength(1);
    // Later identical calls while the approval lives: still refused, nothing asked.
    expect((await post({ amount: 10, key: 'idem-1' }, 'alice')).status).toBe(409);
    expect(ledger.ran).toEqual(['refund:10']);
  });

  it('the same key with another amount, from another user or anonymously never shares the approval: each runs on its own only', async () => {
    const mine = post({ amount: 10, key: 'shared-key' }, 'alice');
    const bigger = post({ amount: 9_999, key: 'shared-key' }, 'alice');
    const bobs = post({ amount: 10, key: 'shared-key' }, 'bob');
    const anonymous = post({ amount: 10, key: 'shared-key' });
    await waitForPending(4);
    const approvals = broker.list();
    expect(new Set(approvals.map((a) => a.dedup_key)).size).toBe(4);

    // Alice asks once more with the same key: the gate finds her approval, not bob's nor the anonymous one.
    const alicesAgain = post({ amount: 10, key: 'shared-key' }, 'alice');
    await new Promise((r) => setTimeout(r, 200));
    expect(broker.list()).toHaveLength(4);

    const tens = approvals.filter((a) => a.summary === 'Refund $10');
    expect(tens).toHaveLength(3);
    for (const approval of tens) await broker.approve(approval.id);
    await broker.deny(approvals.find((a) => a.summary === 'Refund $9999')!.id);

    const answers = await Promise.all([mine, alicesAgain, bobs, anonymous, bigger]);
    // Alice's two identical calls share one approval: one runs, the other gets 409. Bob and the anonymous caller run their own.
    expect(
      answers
        .slice(0, 2)
        .map((a) => a.status)
        .sort(),
    ).toEqual([201, 409]);
    expect(answers[2].status).toBe(201);
    expect(answers[3].status).toBe(201);
    expect(answers[4]).toMatchObject({ status: 403, body: { code: 'approval_denied' } });
    expect(ledger.ran).toEqual(['refund:10', 'refund:10', 'refund:10']);
  });

  it.each([['SESAME:v2:x'], [' sesame:v2:x'], ['\u0455esame:v2:x'], ['sesame\u200b:v2:x'], ['sesame\uff1av2:x'], ['%73esame:v2:x']])(
    'a lookalike of the reserved prefix (%j) is hashed into the binding: the raw key never reaches the broker',
    async (key) => {
      const call = post({ amount: 10, key }, 'alice');
      await waitForPending(1);
      const [approval] = broker.list();
      expect(approval.dedup_key).toMatch(/^sesame:v2:[A-Za-z0-9_-]{43}:[A-Za-z0-9_-]{22}$/);
      expect(approval.dedup_key).not.toContain(key.trim());
      await broker.approve(approval.id);
      expect((await call).status).toBe(201);
      expect(ledger.ran).toEqual(['refund:10']);
    },
  );

  it('the reserved prefix itself is refused before anything is asked: 500 and nothing runs', async () => {
    for (const key of ['sesame:v2:x', 'sesame:', 'sesame:v1:anything']) {
      expect(await post({ amount: 10, key }, 'alice')).toMatchObject({ status: 500, body: { code: 'approval_gate_error' } });
    }
    expect(broker.list()).toEqual([]);
    expect(ledger.ran).toEqual([]);
  });

  it('a 60,000-character key still binds: distinct from the same key one character shorter, and runs once', async () => {
    const long = 'k'.repeat(60_000);
    const first = post({ amount: 10, key: long }, 'alice');
    const shorter = post({ amount: 10, key: long.slice(1) }, 'alice');
    await waitForPending(2);
    const [a, b] = broker.list();
    expect(a.dedup_key).not.toBe(b.dedup_key);
    for (const approval of broker.list()) expect(approval.dedup_key!.length).toBeLessThanOrEqual(200);
    await broker.approve(a.id);
    await broker.deny(b.id);
    const answers = await Promise.all([first, shorter]);
    expect(answers.map((x) => x.status).sort()).toEqual([201, 403]);
    expect((await post({ amount: 10, key: answers[0].status === 201 ? long : long.slice(1) }, 'alice')).status).toBe(409);
    expect(ledger.ran).toEqual(['refund:10']);
  });
});
