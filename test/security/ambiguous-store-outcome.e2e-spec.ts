import { Body, Controller, Post, ValidationPipe } from '@nestjs/common';
import { IsInt, Min } from 'class-validator';
import { Redis } from 'ioredis';
import { RequireApproval, SesameModule } from '../../lib/index.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { startApp, type StartedApp } from '../support/nest-apps.js';
import { RedisServer } from '../support/redis-server.js';
import { Ledger } from '../support/ledger.js';

/**
 * Item 7 of the trust issue: a Redis timeout during the single-use claim answered 503, but the mark had
 * been written, so every retry got 409 and the approved operation could never run.
 */
const API_KEY = 'sk_test_SECRET_ambiguous_c1f4';

class PayoutDto {
  @IsInt() @Min(1) amount!: number;
}

@Controller()
class PayoutsController {
  constructor(private readonly ledger: Ledger<number>) {}

  @Post('payouts')
  @RequireApproval('payments.payout', { mode: 'async', summary: (dto: PayoutDto) => `Pay out ${dto.amount}` })
  payout(@Body() dto: PayoutDto) {
    this.ledger.ran.push(dto.amount);
    return { paid: dto.amount };
  }
}

describe('an unclear store answer during the single use never burns the approval silently', () => {
  let redis: RedisServer;
  let admin: Redis;
  let broker: LocalBroker;
  let started: StartedApp;
  let prefix: string;

  beforeAll(async () => {
    redis = await RedisServer.start();
    admin = new Redis(redis.url);
  });
  afterAll(async () => {
    await admin.quit();
    await redis.stop();
  });
  beforeEach(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY] });
    prefix = `amb-${Math.random().toString(36).slice(2)}:`;
    started = await startApp(
      'express',
      {
        imports: [
          SesameModule.forRoot({
            apiKey: API_KEY,
            baseUrl: broker.url,
            env: {},
            store: { type: 'redis', url: redis.url, keyPrefix: prefix, commandTimeout: 200 },
          }),
        ],
        controllers: [PayoutsController],
        providers: [Ledger],
      },
      (app) => app.useGlobalPipes(new ValidationPipe({ transform: true })),
    );
  });
  afterEach(async () => {
    await started.app.close();
    await broker.stop();
  });

  const post = async (id: string) => {
    const res = await fetch(`${started.url}/payouts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'sesame-approval-id': id },
      body: JSON.stringify({ amount: 900 }),
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
  };

  async function approvedId(): Promise<string> {
    const res = await fetch(`${started.url}/payouts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ amount: 900 }) });
    const { approvalId } = (await res.json()) as { approvalId: string };
    await broker.approve(approvalId);
    return approvalId;
  }

  it('Redis holds the claim past the timeout, then applies it: the 503 is followed by a retry that runs, exactly once', async () => {
    const id = await approvedId();
    // Redis accepts the writes but runs them only after 1.5 s: the gate's answers time out, the writes land later.
    await admin.call('CLIENT', 'PAUSE', '1500', 'WRITE');
    const during = await post(id);
    expect(during).toMatchObject({ status: 503, body: { code: 'approval_store_unavailable' } });
    expect(started.app.get<Ledger<number>>(Ledger).ran).toEqual([]);

    await new Promise((resolve) => setTimeout(resolve, 1_700));
    const retry = await post(id);
    expect(retry.status).toBe(201);
    expect(await post(id)).toMatchObject({ status: 409, body: { code: 'approval_already_used' } });
    expect(started.app.get<Ledger<number>>(Ledger).ran).toEqual([900]);
  });

  it('a claim the store could neither confirm nor undo answers 409 approval_in_use with Retry-After, and the call runs once it lapses', async () => {
    const id = await approvedId();
    // What an attempt leaves when the store failed between its claim and its confirmation, and the undo failed too.
    await admin.set(`${prefix}approval:${id}`, 'claim:lost-attempt', 'PX', 1_000);
    const held = await post(id);
    expect(held).toMatchObject({ status: 409, body: { code: 'approval_in_use', approvalId: id } });
    expect(Number(held.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(started.app.get<Ledger<number>>(Ledger).ran).toEqual([]);

    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await post(id)).status).toBe(201);
    expect(started.app.get<Ledger<number>>(Ledger).ran).toEqual([900]);
  });
});
