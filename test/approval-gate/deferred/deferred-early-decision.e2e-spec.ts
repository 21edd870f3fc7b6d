import { Job } from 'bullmq';
import { generateWebhookSecret } from '../../../lib/index.js';
import { LocalBroker } from '../../../lib/testing/index.js';
import { startDeferredApp, waitForJobState, type DeferredApp } from '../../support/deferred-apps.js';
import { RedisServer } from '../../support/redis-server.js';

const SECRET = generateWebhookSecret();
const API_KEY = 'sk_test_SECRET_early_decision_0b3d';

/**
 * A decision that reaches the app between the job's approval being created and the job being moved to
 * the delayed set: the webhook finds the job still active, cannot promote it, and is answered 2xx; the
 * attempt then delayed the job until the re-check. bench/deferred-jobs found it: with a decision 1 ms
 * after the approval was created, 1 job in 100 waited for its re-check.
 */
describe('a deferred job decided before it is delayed', () => {
  let redis: RedisServer;
  let broker: LocalBroker;
  let subject: DeferredApp;
  const log = Job.prototype.log;

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  beforeEach(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY], webhookSecret: SECRET, webhookRetry: { attempts: 3, baseDelayMs: 10, timeoutMs: 5000 } });
    subject = await startDeferredApp({
      redisPort: redis.port,
      sesame: { apiKey: API_KEY, baseUrl: broker.url, webhookSecret: SECRET, store: { type: 'redis', url: redis.url }, deferred: { recheckInterval: 60_000 } },
    });
  });
  afterEach(async () => {
    Job.prototype.log = log;
    await subject?.queue.obliterate({ force: true }).catch(() => undefined);
    await subject?.app.close();
    await broker.stop();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  // Fixed: DeferredApprovals.resume() takes an active job for one on its way, so the attempt itself looks at
  // its approval once after delaying the job (when a webhook is expected), and promotes it if it was decided.
  it('runs soon after the decision, not at the re-check', async () => {
    // Redis slow between the approval's creation and the move to delayed: the job's log line waits until its decision webhook was answered.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    Job.prototype.log = async function (this: Job, row: string) {
      if (this.id === 'early') await held;
      return log.call(this, row);
    };
    const job = await subject.queue.add('send', { amount: 12, iban: 'PT50' }, { jobId: 'early' });
    const approval = await broker.waitForApproval((a) => a.status === 'pending' && a.summary === 'Send 12 to PT50');
    await broker.approve(approval.id);
    await until(() => broker.deliveries.some((d) => d.approvalId === approval.id && d.ok));
    release();

    await waitForJobState(subject.queue, job.id!, 'completed', 5_000);
    expect(subject.ledger.ranFor(job.id!)).toBe(1);
  });
});

async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
