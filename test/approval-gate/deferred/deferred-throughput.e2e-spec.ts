import { performance } from 'node:perf_hooks';
import type { Job } from 'bullmq';
import { generateWebhookSecret } from '../../../lib/index.js';
import { LocalBroker } from '../../../lib/testing/index.js';
import { PayoutsProcessor, startDeferredApp, waitForJobState, type DeferredApp, type PayoutData } from '../../support/deferred-apps.js';
import { RedisServer } from '../../support/redis-server.js';

// The short form of bench/deferred-jobs.bench.mjs: many deferred jobs waiting at once on one worker.
const WAITING = 150;
const LATER = 10;
const DENY_EVERY = 10;
// The issue's own requirement: every job finished within 5 s of the last decision.
const BOUND_MS = 5_000;
const SECRET = generateWebhookSecret();
const API_KEY = 'sk_test_SECRET_throughput_7e21';

const summaryOf = (data: PayoutData) => `Send ${data.amount} to ${data.iban}`;

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe(`${WAITING} deferred jobs waiting at once on a worker with concurrency 1`, () => {
  let redis: RedisServer;
  let broker: LocalBroker;
  let subject: DeferredApp;
  /** When the worker finished each job (completed or failed), and how. */
  const finished = new Map<string, { at: number; how: 'completed' | 'failed'; reason?: string }[]>();

  beforeAll(async () => {
    redis = await RedisServer.start();
    broker = await LocalBroker.start({
      apiKeys: [API_KEY],
      webhookSecret: SECRET,
      webhookRetry: { attempts: 3, baseDelayMs: 50, timeoutMs: 10_000 },
      // Every decided approval stays readable: a job must find its own approval, not ask again.
      retention: { maxAgeMs: Infinity, maxCount: Infinity },
    });
    subject = await startDeferredApp({
      redisPort: redis.port,
      concurrency: 1,
      logger: false,
      sesame: {
        apiKey: API_KEY,
        baseUrl: broker.url,
        webhookSecret: SECRET,
        store: { type: 'redis', url: redis.url },
        // Far beyond the test: every job that resumes was resumed by its decision webhook.
        deferred: { recheckInterval: 120_000 },
      },
    });
    const worker = subject.app.get(PayoutsProcessor).worker;
    const note = (job: Job | undefined, how: 'completed' | 'failed', reason?: string) => {
      const at = performance.now();
      if (job?.id) finished.set(job.id, [...(finished.get(job.id) ?? []), { at, how, ...(reason !== undefined && { reason }) }]);
    };
    worker.on('completed', (job) => note(job, 'completed'));
    worker.on('failed', (job, error) => note(job, 'failed', error.message));
  });
  afterAll(async () => {
    await subject?.queue.obliterate({ force: true }).catch(() => undefined);
    await subject?.app.close();
    await broker?.stop();
    await redis?.stop();
  });

  it('later jobs run while the others wait; after the decisions each approved job runs once and each denied one fails once, within 5 s of the last decision', async () => {
    expect(subject.app.get(PayoutsProcessor).worker.opts.concurrency).toBe(1);
    const waiting = Array.from({ length: WAITING }, (_, i) => ({ id: `wait-${i}`, data: { amount: 1_000 + i, iban: `DE${i}` } }));
    await subject.queue.addBulk(waiting.map(({ id, data }) => ({ name: 'send', data, opts: { jobId: id } })));
    await until(`${WAITING} jobs pending`, async () => broker.pendingCount === WAITING && (await subject.queue.getDelayedCount()) === WAITING);

    // While the 150 wait, later jobs are picked up, ask, wait and run once approved: no waiting job holds the worker.
    for (let i = 0; i < LATER; i++) {
      const data = { amount: 5 + i, iban: `FR${i}` };
      const job = await subject.queue.add('send', data, { jobId: `later-${i}` });
      const approval = await broker.waitForApproval((a) => a.status === 'pending' && a.summary === summaryOf(data));
      await waitForJobState(subject.queue, job.id!, 'delayed');
      await broker.approve(approval.id);
      await waitForJobState(subject.queue, job.id!, 'completed', 5_000);
      expect(subject.ledger.ranFor(job.id!)).toBe(1);
    }
    expect(broker.pendingCount).toBe(WAITING);
    expect(await subject.queue.getDelayedCount()).toBe(WAITING);
    expect(subject.ledger.runs.filter((r) => r.id.startsWith('wait-'))).toEqual([]);

    // Decide all of them at once: one in ten denied.
    const approvalOf = new Map(broker.list({ status: 'pending' }).map((a) => [a.summary, a.id]));
    const denied = new Set(waiting.filter((_, i) => i % DENY_EVERY === 0).map((w) => w.id));
    for (const { id, data } of waiting) {
      const approvalId = approvalOf.get(summaryOf(data))!;
      await (denied.has(id) ? broker.deny(approvalId) : broker.approve(approvalId));
    }
    const lastDecision = performance.now();
    await until('every waiting job finished', async () => waiting.every(({ id }) => finished.has(id)), 30_000);

    const lastFinished = Math.max(...waiting.map(({ id }) => finished.get(id)![0].at));
    expect(lastFinished - lastDecision).toBeLessThan(BOUND_MS);
    for (const { id } of waiting) {
      if (denied.has(id)) {
        expect({ id, runs: subject.ledger.ranFor(id), finished: finished.get(id)!.map((f) => f.how) }).toEqual({ id, runs: 0, finished: ['failed'] });
        expect(finished.get(id)![0].reason).toContain('status denied');
      } else {
        expect({ id, runs: subject.ledger.ranFor(id), finished: finished.get(id)!.map((f) => f.how) }).toEqual({ id, runs: 1, finished: ['completed'] });
      }
    }
    const counts = await subject.queue.getJobCounts('completed', 'failed', 'delayed', 'wait', 'active');
    expect(counts).toEqual({ completed: WAITING - denied.size + LATER, failed: denied.size, delayed: 0, wait: 0, active: 0 });
    // One approval per job: no job asked twice.
    expect(broker.list()).toHaveLength(WAITING + LATER);
  }, 60_000);
});
