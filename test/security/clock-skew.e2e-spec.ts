import { Body, Controller, Post } from '@nestjs/common';
import { IsInt, Min } from 'class-validator';
import { InMemoryApprovalStore, RequireApproval } from '../../lib/index.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { type StartedApp } from '../support/nest-apps.js';
import { startGatedApp } from '../support/gated-app.js';
import { RedisServer } from '../support/redis-server.js';
import { Redis } from 'ioredis';
import { Ledger } from '../support/ledger.js';

/**
 * Item 6 of the trust issue: with replica clocks more than 5 minutes apart, one async approval ran
 * twice. The used mark's lifetime was computed from the replica's own clock: a replica running fast
 * kept it too briefly for a replica running on time.
 */
const API_KEY = 'sk_test_SECRET_clock_3e90';
const MINUTE = 60_000;

class PayoutDto {
  @IsInt() @Min(1) amount!: number;
}

@Controller()
class PayoutsController {
  constructor(private readonly ledger: Ledger<number>) {}

  @Post('payouts')
  @RequireApproval('payments.payout', { mode: 'async', summary: (dto: PayoutDto) => `Pay out ${dto.amount}`, expiresIn: 60 * MINUTE })
  payout(@Body() dto: PayoutDto) {
    this.ledger.ran.push(dto.amount);
    return { paid: dto.amount };
  }
}

/** Runs `fn` as on a replica whose clock is `skew` ms off; restores the clock after. */
async function onReplicaClock<T>(skew: number, fn: () => Promise<T>): Promise<T> {
  const realNow = Date.now;
  Date.now = () => realNow() + skew;
  try {
    return await fn();
  } finally {
    Date.now = realNow;
  }
}

describe('single use does not depend on replica clocks agreeing', () => {
  let broker: LocalBroker;
  let started: StartedApp;

  afterEach(async () => {
    await started?.app.close();
    await broker?.stop();
  });

  async function start(store: object): Promise<void> {
    ({ broker, started } = await startGatedApp('express', {
      apiKey: API_KEY,
      sesame: { store: store as InMemoryApprovalStore },
      controllers: [PayoutsController],
      providers: [Ledger],
      validation: { transform: true },
    }));
  }

  const post = (id?: string) =>
    fetch(`${started.url}/payouts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(id && { 'sesame-approval-id': id }) },
      body: JSON.stringify({ amount: 700 }),
    });

  it('a use on a replica 50 minutes fast is still marked when a replica on time sees the approval 20 minutes later', async () => {
    // The shared store keeps its own time (as Redis does), which the test moves forward.
    let storeTime = 1_000_000;
    await start(new InMemoryApprovalStore({ now: () => storeTime }));
    const asked = (await (await post()).json()) as { approvalId: string };
    await broker.approve(asked.approvalId);

    // Replica A, 50 minutes fast, runs it: the approval has 10 minutes left by its clock.
    const fast = await onReplicaClock(50 * MINUTE, () => post(asked.approvalId));
    expect(fast.status).toBe(201);

    // 20 minutes pass; replica B, on time, is presented the same approval (40 minutes left by its clock).
    storeTime += 20 * MINUTE;
    const onTime = await onReplicaClock(20 * MINUTE, () => post(asked.approvalId));
    expect(onTime.status).toBe(409);
    expect(((await onTime.json()) as { code: string }).code).toBe('approval_already_used');
    expect(started.app.get<Ledger<number>>(Ledger).ran).toEqual([700]);
  });

  it('in Redis the used mark outlives the approval by a day, whatever the clock of the replica that wrote it', async () => {
    const redis = await RedisServer.start();
    const admin = new Redis(redis.url);
    try {
      await start({ type: 'redis', url: redis.url, keyPrefix: 'skew:' });
      const asked = (await (await post()).json()) as { approvalId: string };
      await broker.approve(asked.approvalId);
      expect((await onReplicaClock(50 * MINUTE, () => post(asked.approvalId))).status).toBe(201);
      const ttl = Number(await admin.pttl(`skew:approval:${asked.approvalId}`));
      // The approval's lifetime (60 min, by the broker's own timestamps) plus 24 h, give or take the test's own time.
      expect(ttl).toBeGreaterThan(60 * MINUTE + 24 * 60 * MINUTE - MINUTE);
      expect(ttl).toBeLessThanOrEqual(60 * MINUTE + 24 * 60 * MINUTE);
    } finally {
      await started.app.close();
      await admin.quit();
      await redis.stop();
    }
  });
});
