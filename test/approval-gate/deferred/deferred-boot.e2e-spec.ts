import { Controller, Injectable, Post } from '@nestjs/common';
import { Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job } from 'bullmq';
import {
  generateWebhookSecret,
  RequireApproval,
  SesameConfigError,
  SesameModule,
  type ApprovalPolicy,
  type ApprovalPolicyCall,
  type ApprovalPolicyDecision,
} from '../../../lib/index.js';
import { LocalBroker } from '../../../lib/testing/index.js';
import { JobLedger, startDeferredApp, waitForJobState, type PayoutData } from '../../support/deferred-apps.js';
import { RedisServer } from '../../support/redis-server.js';

const SECRET = generateWebhookSecret();
const API_KEY = 'sk_test_SECRET_deferred_boot_9a1e';

let redis: RedisServer;
let broker: LocalBroker;
beforeAll(async () => {
  redis = await RedisServer.start();
  broker = await LocalBroker.start({ apiKeys: [API_KEY], webhookSecret: SECRET });
});
afterAll(async () => {
  await broker?.stop();
  await redis?.stop();
});

const sesame = (extra: object = {}) => ({ apiKey: API_KEY, baseUrl: broker.url, webhookSecret: SECRET, store: { type: 'redis' as const, url: redis.url }, ...extra });

@Injectable()
class PlainPayouts {
  @RequireApproval('payouts.send', { mode: 'deferred' })
  async process(job: Job): Promise<void> {
    void job;
  }
}

@Processor('payouts')
class ProcessorWithOtherDeferredMethod extends WorkerHost {
  async process(): Promise<void> {}

  @RequireApproval('payouts.audit', { mode: 'deferred' })
  async audit(): Promise<void> {}
}

@Controller('payouts')
class DeferredRouteController {
  @Post()
  @RequireApproval('payouts.send', { mode: 'deferred' })
  async process(): Promise<void> {}
}

/** A boot expected to fail: the app closed and undefined if it booted (the test's expect then fails). */
async function closedNoError(started: { app: { close(): Promise<void> } }): Promise<undefined> {
  await started.app.close();
  return undefined;
}

describe("mode 'deferred' misused: the boot fails and names the fix", () => {
  it.each([
    ['a plain provider method', { providers: [PlainPayouts] }],
    ['another method of a processor', { processors: [ProcessorWithOtherDeferredMethod] }],
    ['a controller route', { controllers: [DeferredRouteController] }],
  ])('on %s', async (_what, extra) => {
    const error = await startDeferredApp({
      redisPort: redis.port,
      sesame: sesame(),
      logger: false,
      ...('processors' in extra ? { processors: extra.processors } : {}),
      ...('providers' in extra ? { providers: extra.providers } : {}),
      ...('controllers' in extra ? { controllers: extra.controllers } : {}),
    }).then(closedNoError, (e: unknown) => e);
    expect(error).toBeInstanceOf(SesameConfigError);
    expect((error as Error).message).toMatch(/use mode 'deferred', which applies only to the process\(job\) method of a BullMQ processor/);
  });

  it('with the default in-memory store (single use would not outlive the process), and boots with an explicit one', async () => {
    const { store: _store, ...withoutStore } = sesame();
    const error = await startDeferredApp({ redisPort: redis.port, sesame: withoutStore, logger: false }).then(closedNoError, (e: unknown) => e);
    expect(error).toBeInstanceOf(SesameConfigError);
    expect((error as Error).message).toContain("Configure store: { type: 'redis', url }");
    const explicit = await startDeferredApp({ redisPort: redis.port, sesame: { ...withoutStore, store: { type: 'memory' } }, logger: false });
    await explicit.app.close();
  });

  it('decorator and module options are checked', () => {
    expect(() => RequireApproval('a.b', { recheckInterval: 1_000 })).toThrow("recheckInterval applies to mode 'deferred' only");
    expect(() => RequireApproval('a.b', { mode: 'deferred', dedupKey: 'mine' })).toThrow("dedupKey cannot be set with mode 'deferred'");
    expect(() => RequireApproval('a.b', { mode: 'deferred', recheckInterval: 0 })).toThrow('recheckInterval must be a positive integer');
    expect(() => SesameModule.forRoot({ ...sesame(), deferred: { recheckInterval: 5 } })).not.toThrow(); // validated when the app boots
  });

  it('a module option out of range fails the boot', async () => {
    const error = await startDeferredApp({ redisPort: redis.port, sesame: sesame({ deferred: { recheckInterval: 5, callbackUrl: 'not a url' } }), logger: false }).then(
      closedNoError,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SesameConfigError);
    expect((error as Error).message).toContain('deferred.recheckInterval');
    expect((error as Error).message).toContain('deferred.callbackUrl');
  });
});

@Injectable()
class PayoutService {
  constructor(private readonly ledger: JobLedger) {}

  @RequireApproval('payouts.blocking', { summary: (amount: number) => `Pay ${amount} now` })
  async pay(id: string, amount: number): Promise<string> {
    this.ledger.runs.push({ id, attemptsMade: 0, data: { amount, iban: 'blocking' } });
    return `paid ${amount}`;
  }
}

@Processor('payouts')
class BlockingInsideProcessor extends WorkerHost {
  constructor(private readonly payouts: PayoutService) {
    super();
  }

  async process(job: Job<PayoutData>): Promise<string> {
    return this.payouts.pay(job.id!, job.data.amount);
  }
}

describe('a blocking gated method called inside a processor', () => {
  it('holds that worker until the human decides, then runs once', async () => {
    const subject = await startDeferredApp({ redisPort: redis.port, sesame: sesame(), processors: [BlockingInsideProcessor], providers: [PayoutService] });
    try {
      const job = await subject.queue.add('send', { amount: 12, iban: 'DE02' });
      const approval = await broker.waitForApproval((a) => a.action === 'payouts.blocking' && a.status === 'pending');
      expect(await subject.queue.getJobState(job.id!)).toBe('active');
      await broker.approve(approval.id);
      const done = await waitForJobState(subject.queue, job.id!, 'completed', 15_000);
      expect(done.returnvalue).toBe('paid 12');
      expect(subject.ledger.ranFor(job.id!)).toBe(1);
    } finally {
      await subject.queue.obliterate({ force: true });
      await subject.app.close();
    }
  });
});

@Injectable()
class PayoutPolicy implements ApprovalPolicy {
  evaluate(call: ApprovalPolicyCall): ApprovalPolicyDecision {
    const amount = (call.args[0] as Job<PayoutData>).data.amount;
    if (amount < 10) return 'allow';
    if (amount > 1_000_000) return { deny: 'over the payout limit' };
    return 'ask';
  }
}

describe('deferred jobs and the module policy', () => {
  it('allow runs the job at once, deny fails it without retries, ask asks', async () => {
    const subject = await startDeferredApp({ redisPort: redis.port, sesame: sesame(), policy: PayoutPolicy });
    try {
      const small = await subject.queue.add('send', { amount: 5, iban: 'small' });
      expect((await waitForJobState(subject.queue, small.id!, 'completed', 5_000)).returnvalue).toBe('sent 5');

      const huge = await subject.queue.add('send', { amount: 2_000_000, iban: 'huge' }, { attempts: 3 });
      const failed = await waitForJobState(subject.queue, huge.id!, 'failed', 15_000);
      expect(failed.failedReason).toContain('approval_policy_denied');
      expect(failed.failedReason).toContain('over the payout limit');
      expect(failed.attemptsMade).toBe(1);

      const asked = await subject.queue.add('send', { amount: 500, iban: 'asked' });
      const approval = await broker.waitForApproval((a) => a.summary === 'Send 500 to asked' && a.status === 'pending');
      await waitForJobState(subject.queue, asked.id!, 'delayed');
      await broker.approve(approval.id);
      await waitForJobState(subject.queue, asked.id!, 'completed', 15_000);
      expect(subject.ledger.runs.map((r) => r.data.iban)).toEqual(['small', 'asked']);
      expect(broker.list().filter((a) => a.summary.includes('huge') || a.summary.includes('small'))).toEqual([]);
    } finally {
      await subject.queue.obliterate({ force: true });
      await subject.app.close();
    }
  });
});
