import type { Job } from 'bullmq';
import { generateWebhookSecret } from '../../../lib/index.js';
import { LocalBroker } from '../../../lib/testing/index.js';
import { startDeferredApp, waitForJobState, type DeferredApp, type PayoutData } from '../../support/deferred-apps.js';
import { FaultProxy } from '../../support/fault-proxy.js';
import { RedisServer } from '../../support/redis-server.js';

const SECRET = generateWebhookSecret();
const API_KEY = 'sk_test_SECRET_deferred_51c0';

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis?.stop();
});

describe('deferred approvals on BullMQ', () => {
  let broker: LocalBroker;
  let subject: DeferredApp;

  async function start(options: { webhooks?: boolean; recheckInterval?: number; baseUrl?: string; storeUrl?: string } = {}) {
    subject = await startDeferredApp({
      redisPort: redis.port,
      webhooks: options.webhooks,
      sesame: {
        apiKey: API_KEY,
        baseUrl: options.baseUrl ?? broker.url,
        webhookSecret: SECRET,
        // No retries inside one attempt: a broker or store failure fails the attempt, for BullMQ to retry.
        retry: { retries: 0 },
        store: { type: 'redis', url: options.storeUrl ?? redis.url },
        // Long unless told: a job that resumes sooner was resumed by its webhook.
        deferred: { recheckInterval: options.recheckInterval ?? 60_000 },
      },
    });
  }

  beforeEach(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY], webhookSecret: SECRET, webhookRetry: { attempts: 3, baseDelayMs: 10, timeoutMs: 5000 } });
  });
  afterEach(async () => {
    await subject?.queue.obliterate({ force: true }).catch(() => undefined);
    await subject?.app.close();
    await broker.stop();
  });

  async function addAndAwaitApproval(data: PayoutData, opts: Parameters<DeferredApp['queue']['add']>[2] = {}) {
    const job = await subject.queue.add('send', data, opts);
    // Deadlines, not speed: the suites run beside others on a loaded machine.
    const approval = await broker.waitForApproval((a) => a.status === 'pending' && a.summary === `Send ${data.amount} to ${data.iban}`, { timeoutMs: 15_000 });
    const delayed = await waitForJobState(subject.queue, job.id!, 'delayed', 15_000);
    return { job: delayed as Job<PayoutData>, approval };
  }

  it('asks once, waits delayed holding no worker, and runs once when the webhook brings the approval', async () => {
    await start();
    const { job, approval } = await addAndAwaitApproval({ amount: 120, iban: 'DE02' });
    expect(job.progress).toEqual({ sesame: { approvalId: approval.id, action: 'payouts.send', status: 'pending' } });
    expect(subject.ledger.runs).toEqual([]);

    await broker.approve(approval.id);
    const done = await waitForJobState(subject.queue, job.id!, 'completed', 15_000);
    expect(done.returnvalue).toBe('sent 120');
    expect(subject.ledger.ranFor(job.id!)).toBe(1);
    expect(broker.list().filter((a) => a.action === 'payouts.send')).toHaveLength(1);
  });

  it('without webhooks, the re-check picks the decision up', async () => {
    await start({ webhooks: false, recheckInterval: 200 });
    const { job, approval } = await addAndAwaitApproval({ amount: 7, iban: 'FR76' });
    await broker.approve(approval.id);
    await waitForJobState(subject.queue, job.id!, 'completed', 15_000);
    expect(subject.ledger.ranFor(job.id!)).toBe(1);
    expect(broker.list()).toHaveLength(1);
  });

  it.each(['deny', 'expire'] as const)('%s: the job fails once, without retries, naming the status and the approval', async (decision) => {
    await start();
    const { job, approval } = await addAndAwaitApproval({ amount: 9_000, iban: 'IT60' }, { attempts: 3, backoff: { type: 'fixed', delay: 10 } });
    await (decision === 'deny' ? broker.deny(approval.id) : broker.expire(approval.id));
    const failed = await waitForJobState(subject.queue, job.id!, 'failed', 15_000);
    const status = decision === 'deny' ? 'denied' : 'expired';
    expect(failed.failedReason).toContain(`approval ${approval.id}`);
    expect(failed.failedReason).toContain(`status ${status}`);
    expect(failed.attemptsMade).toBe(1);
    expect(subject.ledger.runs).toEqual([]);
  });

  it("a run that fails after approval is retried by BullMQ's rules under the same approval, never asking again", async () => {
    await start();
    const { job, approval } = await addAndAwaitApproval({ amount: 50, iban: 'NL91', failFirst: 2 }, { attempts: 3, backoff: { type: 'fixed', delay: 10 } });
    await broker.approve(approval.id);
    const done = await waitForJobState(subject.queue, job.id!, 'completed', 15_000);
    // BullMQ counts the completed attempt too.
    expect(done.attemptsMade).toBe(3);
    expect(subject.ledger.runs.map((r) => r.attemptsMade)).toEqual([0, 1, 2]);
    expect(broker.list()).toHaveLength(1);
  });

  it('a completed job retried by hand (Bull Board "retry") does not run again on its approval', async () => {
    await start();
    const { job, approval } = await addAndAwaitApproval({ amount: 75, iban: 'BE68' });
    await broker.approve(approval.id);
    const done = await waitForJobState(subject.queue, job.id!, 'completed', 15_000);
    await done.retry('completed');
    const failed = await waitForJobState(subject.queue, job.id!, 'failed', 15_000);
    expect(failed.failedReason).toContain('approval_already_used');
    expect(subject.ledger.ranFor(job.id!)).toBe(1);
  });

  it('a job whose data changed while it waited does not run on the approval of the data the human saw', async () => {
    await start();
    const { job, approval } = await addAndAwaitApproval({ amount: 10, iban: 'ES91' });
    await job.updateData({ amount: 10_000, iban: 'XX00' });
    await broker.approve(approval.id);
    const failed = await waitForJobState(subject.queue, job.id!, 'failed', 15_000);
    expect(failed.failedReason).toContain('approval_mismatch');
    expect(subject.ledger.runs).toEqual([]);
  });

  it.each(['removed', 'drained'] as const)('a job %s while it waits: the decision is acknowledged and nothing runs', async (how) => {
    await start();
    const { job, approval } = await addAndAwaitApproval({ amount: 33, iban: 'AT61' });
    if (how === 'removed') await job.remove();
    else await subject.queue.drain(true);
    await broker.approve(approval.id);
    const delivery = await new Promise<{ statusCode: number | null }>((resolve) => {
      const check = () => {
        const found = broker.deliveries.find((d) => d.approvalId === approval.id);
        if (found) resolve(found);
        else setTimeout(check, 10);
      };
      check();
    });
    expect(delivery.statusCode).toBe(204);
    expect(await subject.queue.getJob(job.id!)).toBeUndefined();
    expect(subject.ledger.runs).toEqual([]);
  });

  it('a replica that only adds jobs (the queue, no processor) takes the decision webhook and resumes the job', async () => {
    const api = await startDeferredApp({
      redisPort: redis.port,
      processors: [],
      sesame: { apiKey: API_KEY, baseUrl: broker.url, webhookSecret: SECRET, store: { type: 'redis', url: redis.url } },
    });
    try {
      subject = await startDeferredApp({
        redisPort: redis.port,
        webhooks: false,
        sesame: {
          apiKey: API_KEY,
          baseUrl: broker.url,
          webhookSecret: SECRET,
          store: { type: 'redis', url: redis.url },
          // Every decision goes to the API replica; the worker would look again only after a minute.
          deferred: { recheckInterval: 60_000, callbackUrl: `${api.url}/sesame/webhook` },
        },
      });
      const { job, approval } = await addAndAwaitApproval({ amount: 14, iban: 'LU28' });
      await broker.approve(approval.id);
      await waitForJobState(subject.queue, job.id!, 'completed', 15_000);
      expect(broker.deliveries.filter((d) => d.approvalId === approval.id).map((d) => d.statusCode)).toEqual([204]);
      expect(subject.ledger.ranFor(job.id!)).toBe(1);
      expect(api.ledger.runs).toEqual([]);
    } finally {
      await api.app.close();
    }
  });

  describe('the broker or the store unavailable: the attempt fails, BullMQ retries it, and the same approval is found again', () => {
    let proxy: FaultProxy;
    beforeEach(async () => {
      proxy = await FaultProxy.start(broker.url);
    });
    afterEach(async () => {
      await proxy.stop();
    });

    it.each([
      ['answers 503', { kind: 'status', status: 503 }],
      ['creates the approval but its answer is lost', { kind: 'drop-response' }],
    ] as const)('the broker %s on the first trigger', async (_name, fault) => {
      let faults = 0;
      proxy.plan = (request) => (request.kind === 'trigger' && faults++ === 0 ? fault : { kind: 'pass' });
      await start({ baseUrl: proxy.url });
      const { job, approval } = await addAndAwaitApproval({ amount: 64, iban: 'PT50' }, { attempts: 4, backoff: { type: 'fixed', delay: 50 } });
      await broker.approve(approval.id);
      const done = await waitForJobState(subject.queue, job.id!, 'completed', 15_000);
      expect(done.returnvalue).toBe('sent 64');
      // The failed attempt, then the one that ran (BullMQ counts it too).
      expect(done.attemptsMade).toBeGreaterThanOrEqual(2);
      expect(faults).toBeGreaterThanOrEqual(2);
      expect(subject.ledger.ranFor(job.id!)).toBe(1);
      // One approval for the job, however many attempts it took to find it.
      expect(broker.list().filter((a) => a.action === 'payouts.send')).toHaveLength(1);
    });

    it('the store is down when the approved job resumes: retried until it is back, then runs once', async () => {
      const store = await RedisServer.start();
      try {
        // The webhook is refused while the store is down (its id is claimed there first): the re-check resumes the job.
        await start({ storeUrl: store.url, recheckInterval: 300 });
        const { job, approval } = await addAndAwaitApproval({ amount: 81, iban: 'SE45' }, { attempts: 20, backoff: { type: 'fixed', delay: 100 } });
        await store.stop();
        await broker.approve(approval.id);
        // Resumed by its re-check, the attempt fails on the store: BullMQ backs off and tries again.
        const retried = await waitUntil(async () => ((await subject.queue.getJob(job.id!))?.attemptsMade ?? 0) >= 2);
        expect(retried).toBe(true);
        expect(subject.ledger.runs).toEqual([]);
        await store.start();
        const done = await waitForJobState(subject.queue, job.id!, 'completed', 10_000);
        expect(done.failedReason ?? '').toContain('store');
        expect(subject.ledger.ranFor(job.id!)).toBe(1);
        expect(broker.list()).toHaveLength(1);
      } finally {
        await subject.app.close();
        await store.stop();
      }
    });
  });
});

async function waitUntil(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}
