import type { Job } from 'bullmq';
import { generateWebhookSecret } from '../../../lib/index.js';
import { LocalBroker } from '../../../lib/testing/index.js';
import { startDeferredApp, waitForJobState, type DeferredApp, type PayoutData } from '../../support/deferred-apps.js';
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

  async function start(options: { webhooks?: boolean; recheckInterval?: number } = {}) {
    subject = await startDeferredApp({
      redisPort: redis.port,
      webhooks: options.webhooks,
      sesame: {
        apiKey: API_KEY,
        baseUrl: broker.url,
        webhookSecret: SECRET,
        store: { type: 'redis', url: redis.url },
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
    const approval = await broker.waitForApproval((a) => a.status === 'pending' && a.summary === `Send ${data.amount} to ${data.iban}`);
    const delayed = await waitForJobState(subject.queue, job.id!, 'delayed');
    return { job: delayed as Job<PayoutData>, approval };
  }

  it('asks once, waits delayed holding no worker, and runs once when the webhook brings the approval', async () => {
    await start();
    const { job, approval } = await addAndAwaitApproval({ amount: 120, iban: 'DE02' });
    expect(job.progress).toEqual({ sesame: { approvalId: approval.id, action: 'payouts.send', status: 'pending' } });
    expect(subject.ledger.runs).toEqual([]);

    await broker.approve(approval.id);
    const done = await waitForJobState(subject.queue, job.id!, 'completed', 5_000);
    expect(done.returnvalue).toBe('sent 120');
    expect(subject.ledger.ranFor(job.id!)).toBe(1);
    expect(broker.list().filter((a) => a.action === 'payouts.send')).toHaveLength(1);
  });

  it('without webhooks, the re-check picks the decision up', async () => {
    await start({ webhooks: false, recheckInterval: 200 });
    const { job, approval } = await addAndAwaitApproval({ amount: 7, iban: 'FR76' });
    await broker.approve(approval.id);
    await waitForJobState(subject.queue, job.id!, 'completed', 5_000);
    expect(subject.ledger.ranFor(job.id!)).toBe(1);
    expect(broker.list()).toHaveLength(1);
  });

  it.each(['deny', 'expire'] as const)('%s: the job fails once, without retries, naming the status and the approval', async (decision) => {
    await start();
    const { job, approval } = await addAndAwaitApproval({ amount: 9_000, iban: 'IT60' }, { attempts: 3, backoff: { type: 'fixed', delay: 10 } });
    await (decision === 'deny' ? broker.deny(approval.id) : broker.expire(approval.id));
    const failed = await waitForJobState(subject.queue, job.id!, 'failed', 5_000);
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
    const done = await waitForJobState(subject.queue, job.id!, 'completed', 5_000);
    // BullMQ counts the completed attempt too.
    expect(done.attemptsMade).toBe(3);
    expect(subject.ledger.runs.map((r) => r.attemptsMade)).toEqual([0, 1, 2]);
    expect(broker.list()).toHaveLength(1);
  });

  it('a completed job retried by hand (Bull Board "retry") does not run again on its approval', async () => {
    await start();
    const { job, approval } = await addAndAwaitApproval({ amount: 75, iban: 'BE68' });
    await broker.approve(approval.id);
    const done = await waitForJobState(subject.queue, job.id!, 'completed', 5_000);
    await done.retry('completed');
    const failed = await waitForJobState(subject.queue, job.id!, 'failed', 5_000);
    expect(failed.failedReason).toContain('approval_already_used');
    expect(subject.ledger.ranFor(job.id!)).toBe(1);
  });

  it("a job whose data changed while it waited does not run on the approval of the data the human saw", async () => {
    await start();
    const { job, approval } = await addAndAwaitApproval({ amount: 10, iban: 'ES91' });
    await job.updateData({ amount: 10_000, iban: 'XX00' });
    await broker.approve(approval.id);
    const failed = await waitForJobState(subject.queue, job.id!, 'failed', 5_000);
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
});
