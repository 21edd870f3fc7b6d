import { Injectable, Module, type INestApplication, type OnModuleInit } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import {
  ApprovalAlreadyUsedError,
  ApprovalDenied,
  ApprovalGateNotBoundError,
  ApprovalInUseError,
  ApprovalTimeout,
  ApprovalsService,
  RequireApproval,
  SesameConfigError,
  SesameModule,
  SkipApproval,
} from '../../lib/index.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { startApp } from '../support/nest-apps.js';

@Injectable()
class PaymentsService {
  readonly ran: string[] = [];
  private readonly currency = 'EUR';

  @RequireApproval('payments.refund', {
    summary: (amount: number, customerId: string) => `Refund ${amount / 100} to ${customerId}`,
    context: (amount: number) => ({ amount }),
    dedupKey: (_amount: number, _customer: string, ticket?: string) => ticket,
  })
  async refund(amount: number, customerId: string, _ticket?: string): Promise<string> {
    this.ran.push('refund');
    return `${amount} ${this.currency} to ${customerId}`;
  }

  // Shares its dedup key with refund(): the broker then answers with refund's approval, for another action.
  @RequireApproval('payments.void', { summary: 'Void a payment', dedupKey: (ticket: string) => ticket })
  async voidPayment(ticket: string): Promise<string> {
    this.ran.push('void');
    return `voided ${ticket}`;
  }

  // A synchronous method: it returns a Promise of its value once gated.
  @RequireApproval('payments.fee', { summary: 'Charge a fee', timeout: 400 })
  chargeFee(cents: number): { charged: number; currency: string } {
    this.ran.push('fee');
    return { charged: cents, currency: this.currency };
  }
}

@Injectable()
@RequireApproval('ops.admin')
class OpsService implements OnModuleInit {
  readonly ran: string[] = [];
  initialised = false;

  onModuleInit() {
    this.initialised = true; // lifecycle hooks are never gated
  }

  restart(service: string) {
    this.ran.push(`restart:${service}`);
    return 'restarted';
  }

  @SkipApproval()
  status() {
    return 'green';
  }

  @RequireApproval('ops.drop', { summary: 'Drop everything' })
  drop() {
    this.ran.push('drop');
    return 'dropped';
  }
}

const API_KEY = 'sk_test_SECRET_providers_2d9c';
/** Provider-only apps: initialised, not listening, not logging. */
const QUIET = { logger: false, listen: false } as const;

async function createApp(broker: LocalBroker, extra: Partial<Parameters<typeof SesameModule.forRoot>[0]> = {}): Promise<INestApplication> {
  const { app } = await startApp(
    'express',
    { imports: [SesameModule.forRoot({ apiKey: broker.apiKey, baseUrl: broker.url, env: {}, ...extra })], providers: [PaymentsService, OpsService] },
    undefined,
    QUIET,
  );
  return app;
}

describe('@RequireApproval on provider methods', () => {
  let broker: LocalBroker;
  let app: INestApplication;

  beforeEach(async () => {
    broker = await LocalBroker.start({
      apiKeys: [API_KEY],
      decide: (a) => (a.summary.includes('cus_ok') || a.action.startsWith('ops.') ? 'approve' : a.summary.includes('cus_no') ? 'deny' : undefined),
    });
    app = await createApp(broker);
  });
  afterEach(async () => {
    await app?.close();
    await broker?.stop();
  });

  it('runs after approval with its arguments, `this` and return value intact; the summary used the arguments', async () => {
    const payments = app.get(PaymentsService);
    await expect(payments.refund(4200, 'cus_ok')).resolves.toBe('4200 EUR to cus_ok');
    expect(payments.ran).toEqual(['refund']);
    expect(broker.list()[0]).toMatchObject({ summary: 'Refund 42 to cus_ok', context: { amount: 4200 }, status: 'approved' });
  });

  it('throws ApprovalDenied when denied, and the method does not run', async () => {
    const payments = app.get(PaymentsService);
    const error = await payments.refund(100, 'cus_no').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApprovalDenied);
    expect(error).toMatchObject({ status: 'denied', approvalId: broker.list()[0].id });
    expect(payments.ran).toEqual([]);
  });

  it('a synchronous method resolves with its value after approval, and times out typed when undecided', async () => {
    const payments = app.get(PaymentsService);
    // The declared type stays synchronous (decorators cannot change it); at runtime the gated method returns a Promise.
    const pending = payments.chargeFee(250) as unknown as Promise<unknown>;
    expect(pending).toBeInstanceOf(Promise);
    const approval = await broker.waitForApproval((a) => a.action === 'payments.fee');
    await broker.approve(approval.id);
    await expect(pending).resolves.toEqual({ charged: 250, currency: 'EUR' });

    const error = await (payments.chargeFee(1) as unknown as Promise<unknown>).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApprovalTimeout);
    expect(payments.ran).toEqual(['fee']);
  });

  it('identical calls sharing a dedup key share one approval, and only one of them runs on it', async () => {
    const payments = app.get(PaymentsService);
    const first = payments.refund(500, 'cus_wait', 'ticket-9');
    const approval = await broker.waitForApproval((a) => a.summary === 'Refund 5 to cus_wait');
    const second = payments.refund(500, 'cus_wait', 'ticket-9');
    await broker.waitForHeldWaits(2);
    await broker.approve(approval.id);
    const outcomes = await Promise.allSettled([first, second]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
    expect([ApprovalAlreadyUsedError, ApprovalInUseError].some((type) => refused.reason instanceof type)).toBe(true);
    expect(payments.ran).toEqual(['refund']);
    expect(broker.list()).toHaveLength(1);
  });

  it("a dedup key shared with another action never brings back that action's approval: the other call asks for its own", async () => {
    const payments = app.get(PaymentsService);
    await expect(payments.refund(4200, 'cus_ok', 'ticket-shared')).resolves.toContain('cus_ok');
    const voided = payments.voidPayment('ticket-shared').catch((e: unknown) => e);
    const own = await broker.waitForApproval((a) => a.action === 'payments.void');
    expect(own.id).not.toBe(broker.list().find((a) => a.action === 'payments.refund')!.id);
    await broker.deny(own.id);
    expect(await voided).toBeInstanceOf(ApprovalDenied);
    expect(payments.ran).toEqual(['refund']);
  });

  it('a class-level decorator gates every method except @SkipApproval ones and lifecycle hooks; method options win', async () => {
    const ops = app.get(OpsService);
    expect(ops.initialised).toBe(true);
    expect(ops.status()).toBe('green');
    await expect(ops.restart('api')).resolves.toBe('restarted');
    await expect(ops.drop()).resolves.toBe('dropped');
    expect(
      broker
        .list()
        .map((a) => [a.action, a.summary])
        .sort(),
    ).toEqual([
      ['ops.admin', 'Approve ops.admin (OpsService.restart)'],
      ['ops.drop', 'Drop everything'],
    ]);
  });

  it('an instance created outside Nest fails closed', async () => {
    const loose = new PaymentsService();
    const error = await loose.refund(1, 'cus_ok').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApprovalGateNotBoundError);
    expect((error as Error).message).toMatch(/PaymentsService\.refund\(\)/);
    expect(loose.ran).toEqual([]);
    expect(broker.list()).toEqual([]);
  });

  it('two apps in one process each use their own broker', async () => {
    const otherBroker = await LocalBroker.start({ apiKeys: ['sk_test_other'], decide: () => 'deny' });
    const other = await createApp(otherBroker, { apiKey: 'sk_test_other' });
    try {
      await expect(app.get(PaymentsService).refund(1, 'cus_ok')).resolves.toContain('cus_ok');
      await expect(other.get(PaymentsService).refund(1, 'cus_ok')).rejects.toBeInstanceOf(ApprovalDenied);
      expect(broker.list()).toHaveLength(1);
      expect(otherBroker.list()).toHaveLength(1);
    } finally {
      await other.close();
      await otherBroker.stop();
    }
  });

  it('ApprovalsService triggers, reads and waits like the client', async () => {
    const approvals = app.get(ApprovalsService);
    const approval = await approvals.trigger({ action: 'db.delete', summary: 'Delete 1,204 rows', context: { rows: 1204 } });
    expect((await approvals.get(approval.id)).pending).toBe(true);
    await broker.approve(approval.id);
    const decided = await approvals.wait(approval.id, { timeout: 5_000 });
    expect(decided.approved).toBe(true);
  });
});

describe('SesameModule configuration', () => {
  let broker: LocalBroker;
  beforeAll(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY], decide: () => 'approve' });
  });
  afterAll(() => broker.stop());

  it('forRootAsync with ConfigService reads SESAME_* from configuration', async () => {
    @Module({
      imports: [
        SesameModule.forRootAsync({
          imports: [ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ SESAME_API_KEY: API_KEY, SESAME_BROKER_URL: broker.url })] })],
          inject: [ConfigService],
          useFactory: (config: ConfigService) => ({
            apiKey: config.getOrThrow<string>('SESAME_API_KEY'),
            baseUrl: config.getOrThrow<string>('SESAME_BROKER_URL'),
            env: {},
          }),
        }),
      ],
      providers: [PaymentsService, OpsService],
    })
    class AsyncAppModule {}
    const { app } = await startApp('express', { imports: [AsyncAppModule] }, undefined, QUIET);
    await expect(app.get(PaymentsService).refund(300, 'cus_async')).resolves.toBe('300 EUR to cus_async');
    await app.close();
  });

  it('falls back to SESAME_API_KEY / SESAME_BROKER_URL from the environment', async () => {
    const { app } = await startApp(
      'express',
      { imports: [SesameModule.forRoot({ env: { SESAME_API_KEY: API_KEY, SESAME_BROKER_URL: broker.url } })], providers: [PaymentsService, OpsService] },
      undefined,
      QUIET,
    );
    await expect(app.get(PaymentsService).refund(1, 'cus_env')).resolves.toContain('cus_env');
    await app.close();
  });

  it.each([
    [{ env: {} }, /SESAME_API_KEY/],
    [{ apiKey: API_KEY, baseUrl: 'http://broker.example.com', env: {} }, /allowInsecureHttp/],
    [{ apiKey: API_KEY, defaultTimeout: -5, env: {} }, /defaultTimeout/],
    [{ apiKey: API_KEY, webhookSecret: 'plaintext-secret-value', env: {} }, /webhookSecret/],
  ])('invalid options fail at bootstrap with a message naming the option (%#)', async (options, message) => {
    const error = await startApp('express', { imports: [SesameModule.forRoot(options)] }, undefined, QUIET).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SesameConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain(API_KEY);
    expect((error as Error).message).not.toContain('plaintext-secret-value');
  });
});

describe('approval expiry in blocking mode', () => {
  it('outlives the gate timeout by a margin, so an undecided call always ends as ApprovalTimeout', async () => {
    const broker = await LocalBroker.start({ apiKeys: [API_KEY] });
    const app = await createApp(broker);
    try {
      const payments = app.get(PaymentsService);
      for (let i = 0; i < 3; i++) {
        const error = await (payments.chargeFee(i) as unknown as Promise<unknown>).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ApprovalTimeout);
      }
      for (const approval of broker.list()) {
        const lifetime = Date.parse(approval.expires_at!) - Date.parse(approval.created_at);
        // chargeFee waits 400 ms; the broker keeps the approval open a second longer (whole seconds on the wire).
        expect(lifetime).toBe(2_000);
      }
    } finally {
      await app.close();
      await broker.stop();
    }
  });
});
