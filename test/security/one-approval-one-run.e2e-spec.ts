import { Body, Controller, createParamDecorator, Injectable, Post, UseGuards, ValidationPipe, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { IsInt, IsString, Min } from 'class-validator';
import { RequireApproval, SesameModule } from '../../lib/index.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { ADAPTERS, startApp, type StartedApp } from '../support/nest-apps.js';
import { Ledger } from '../support/ledger.js';

/**
 * Item 2 of the trust issue: in blocking mode with a dedupKey, the broker answered a repeated key with
 * the approval it already had (approved), and the gate ran every later call on it: $10, $9,999 and $5
 * on one approval of $10.
 */
const API_KEY = 'sk_test_SECRET_onerun_77d0';

class RefundDto {
  @IsInt() @Min(1) amount!: number;
  @IsString() idempotencyKey!: string;
}

@Injectable()
class FakeAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; user?: unknown }>();
    if (request.headers['x-user']) request.user = { id: request.headers['x-user'] };
    return true;
  }
}

/** The authenticated user's id, as data the approval can be bound to. */
const UserId = createParamDecorator((_: unknown, context: ExecutionContext) => context.switchToHttp().getRequest<{ user?: { id: string } }>().user?.id ?? 'anonymous');

@Controller()
@UseGuards(FakeAuthGuard)
class RefundsController {
  constructor(private readonly ledger: Ledger) {}

  @Post('refunds')
  @RequireApproval('payments.refund', { summary: (dto: RefundDto) => `Refund $${dto.amount}`, dedupKey: (dto: RefundDto) => dto.idempotencyKey, timeout: 3_000 })
  refund(@Body() dto: RefundDto, @UserId() user: string) {
    this.ledger.ran.push(`refund:${dto.amount}:${user}`);
    return { refunded: dto.amount };
  }
}

describe.each(ADAPTERS)('one approval, one run, in blocking mode (%s)', (adapter) => {
  let broker: LocalBroker;
  let started: StartedApp;
  let ledger: Ledger;

  beforeEach(async () => {
    // The human approves exactly the $10 refund and denies the others; $11 waits for a decision.
    broker = await LocalBroker.start({
      apiKeys: [API_KEY],
      decide: (a) => (a.summary === 'Refund $10' ? 'approve' : a.summary === 'Refund $11' ? undefined : 'deny'),
    });
    started = await startApp(
      adapter,
      {
        imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl: broker.url, env: {} })],
        controllers: [RefundsController],
        providers: [Ledger, FakeAuthGuard],
      },
      (app) => app.useGlobalPipes(new ValidationPipe({ transform: true, whitelist: true })),
    );
    ledger = started.app.get(Ledger);
  });
  afterEach(async () => {
    await started.app.close();
    await broker.stop();
  });

  const post = async (body: unknown, user: string) => {
    const res = await fetch(`${started.url}/refunds`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-user': user }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('later calls with the same dedup key but other arguments or another user never run on the first approval', async () => {
    expect((await post({ amount: 10, idempotencyKey: 'k-1' }, 'alice')).status).toBe(201);
    const bigger = await post({ amount: 9_999, idempotencyKey: 'k-1' }, 'alice');
    const otherUser = await post({ amount: 10, idempotencyKey: 'k-1' }, 'mallory');
    const smaller = await post({ amount: 5, idempotencyKey: 'k-1' }, 'mallory');
    // Each asked for its own approval, which the human did not give (or, for mallory's $10, gave to mallory).
    expect(bigger).toMatchObject({ status: 403, body: { code: 'approval_denied' } });
    expect(smaller).toMatchObject({ status: 403, body: { code: 'approval_denied' } });
    expect(otherUser.status).toBe(201);
    expect(ledger.ran).toEqual(['refund:10:alice', 'refund:10:mallory']);
    expect(new Set(broker.list().map((a) => a.id)).size).toBe(4);
  });

  it('the same call repeated with the same dedup key finds its used approval and gets 409: single use in blocking mode', async () => {
    expect((await post({ amount: 10, idempotencyKey: 'k-2' }, 'alice')).status).toBe(201);
    const again = await post({ amount: 10, idempotencyKey: 'k-2' }, 'alice');
    expect(again).toMatchObject({ status: 409, body: { code: 'approval_already_used', approvalId: broker.list()[0].id } });
    expect(ledger.ran).toEqual(['refund:10:alice']);
    expect(broker.list()).toHaveLength(1);
  });

  it('concurrent identical calls sharing one pending approval: exactly one runs, the others get 409', async () => {
    const calls = Array.from({ length: 5 }, () => post({ amount: 11, idempotencyKey: 'k-3' }, 'alice'));
    await broker.waitForHeldWaits(5);
    expect(broker.list()).toHaveLength(1);
    await broker.approve(broker.list()[0].id);
    const answers = await Promise.all(calls);
    expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
    for (const refused of answers.filter((a) => a.status !== 201)) {
      expect(refused.status).toBe(409);
      expect(['approval_already_used', 'approval_in_use']).toContain(refused.body.code);
    }
    expect(ledger.ran).toEqual(['refund:11:alice']);
  });
});
