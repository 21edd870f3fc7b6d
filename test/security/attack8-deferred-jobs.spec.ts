/**
 * Attack 8: deferred approvals on BullMQ (`@RequireApproval(action, { mode: 'deferred' })` on a
 * processor's process(job)), attacked from outside the gate: whoever can add, change, move or remove
 * jobs in the queue (a producer, an operator with Bull Board), send a validly signed decision webhook
 * again, or make a worker slow or its store fail at the wrong moment.
 *
 * The rule: an approval authorizes at most one execution of exactly the call the human saw (same
 * action, arguments, requester), on every path and in every mode; when in doubt the gated code does not
 * run. The deferred mode's stated exception: after approval, BullMQ's own retries of a run that FAILED
 * may run again under the same approval, at most `attempts` runs in all.
 *
 * Real Nest apps (test/security/attack8-fixtures.ts) with @nestjs/bullmq workers on a real
 * redis-server, a Redis approval store, the real local broker and its signed webhooks. `it.failing`
 * marks a proven hole (its body asserts the safe outcome); every other attack held.
 */
import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { generateWebhookSecret, signWebhook } from '../../lib/index.js';
import { ApprovalStore } from '../../lib/approval-store/approval-store.interface.js';
import { formatWireTimestamp } from '../../lib/protocol/wire-timestamp.js';
import type { WireWebhookPayload } from '../../lib/webhooks/webhook-payload.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { waitForJobState } from '../support/deferred-apps.js';
import { RedisServer } from '../support/redis-server.js';
import {
  ACTION,
  ActiveListenerPayouts,
  ConcurrentPayouts,
  RateSummaryPayouts,
  Rates,
  ShortLockPayouts,
  WEBHOOK_PATH,
  WhenPayouts,
  startAttack8App,
  summaryOf,
  type Attack8App,
  type Attack8AppOptions,
  type PayoutJobData,
} from './attack8-fixtures.js';

const API_KEY = 'sk_test_SECRET_attack8_7f3a91';
const SECRET = generateWebhookSecret();

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis?.stop();
});

describe('attack 8: deferred approvals on BullMQ', () => {
  let broker: LocalBroker;
  let apps: Attack8App[];

  beforeEach(async () => {
    apps = [];
    broker = await LocalBroker.start({ apiKeys: [API_KEY], webhookSecret: SECRET, webhookRetry: { attempts: 3, baseDelayMs: 10, timeoutMs: 5000 } });
  });
  afterEach(async () => {
    for (const subject of apps) {
      await subject.queue.obliterate({ force: true }).catch(() => undefined);
      await subject.app.close().catch(() => undefined);
    }
    await broker.stop();
  });

  async function start(options: Partial<Attack8AppOptions> = {}): Promise<Attack8App> {
    const subject = await startAttack8App({
      redis: { port: redis.port },
      store: { url: redis.url },
      sesame: { apiKey: API_KEY, baseUrl: broker.url, webhookSecret: SECRET },
      ...options,
    });
    apps.push(subject);
    return subject;
  }

  /** Adds a job and resolves once it asked for its approval and waits delayed. */
  async function awaitApproval(subject: Attack8App, data: PayoutJobData, opts: Parameters<Attack8App['queue']['add']>[2] = {}, summary = summaryOf(data)) {
    const added = await subject.queue.add('send', data, opts);
    const approval = await broker.waitForApproval((a) => a.status === 'pending' && a.summary === summary, { timeoutMs: 15_000 });
    const job = (await waitForJobState(subject.queue, added.id!, 'delayed', 15_000)) as Job<PayoutJobData>;
    return { job, approval };
  }

  /** A decision webhook signed with the module's secret, as the broker (or a replay of its delivery) would send it. */
  async function deliver(subject: Attack8App, payload: WireWebhookPayload, webhookId = `msg_${randomUUID()}`): Promise<number> {
    const body = JSON.stringify(payload);
    const res = await fetch(`${subject.url}${WEBHOOK_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signWebhook(body, SECRET, { id: webhookId }) },
      body,
    });
    await res.arrayBuffer();
    return res.status;
  }

  /** Resolves once the job was taken by a worker again (its attempt started) and waits delayed once more. */
  async function awaitRecheck(subject: Attack8App, job: Job, startedBefore: number): Promise<Job> {
    expect(await waitUntil(async () => ((await subject.queue.getJob(job.id!))?.attemptsStarted ?? 0) > startedBefore)).toBe(true);
    return waitForJobState(subject.queue, job.id!, 'delayed', 15_000);
  }

  describe('a job added again under the id, name, creation time and data of one that ran', () => {
    it.each([
      ['completed', 0],
      ['failed on its only attempt', 1],
    ] as const)('the original %s, then removed: the copy finds the same approval and is refused, not run', async (_how, failFirst) => {
      const subject = await start();
      const data = { amount: 4_100 + failFirst, iban: `DE-COPY-${failFirst}`, failFirst };
      const { job, approval } = await awaitApproval(subject, data, { jobId: `payout-copy-${failFirst}`, attempts: 1 });
      await broker.approve(approval.id);
      const finished = await waitForJobState(subject.queue, job.id!, ['completed', 'failed'], 15_000);
      expect(finished.finishedOn).toBeDefined();
      expect(subject.ledger.ranFor(job.id!)).toBe(1);

      await finished.remove();
      // BullMQ lets a producer choose the creation time: the copy has the same binding as the original.
      const copy = await subject.queue.add('send', data, { jobId: job.id!, timestamp: job.timestamp, attempts: 1 });
      const refused = await waitForJobState(subject.queue, copy.id!, ['completed', 'failed'], 15_000);
      expect(refused.failedReason).toContain('approval_already_used');
      expect(refused.failedReason).toContain(approval.id);
      expect(subject.ledger.ranFor(job.id!)).toBe(1);
      expect(broker.list()).toHaveLength(1);
    });

    // Was a HOLE (fixed: `attempts` joined the job's binding): the number of runs one approval allows is read from the live job's opts.attempts
    // (DeferredJob.maxRuns, lib/approval-gate/deferred/deferred-job.ts:70-73 at 42ca6a8, the bound of
    // takeJobRun's loop, lib/approval-gate/approval-gate.ts:392), which the binding does not cover (DeferredJob.binding:
    // queue, id, name, timestamp, data). A job whose only allowed run failed, removed and added again
    // with the same id, name, timestamp and data but a larger `attempts`, finds the same approval
    // (same dedup key), steps past run 0 (used, failed) and takes run 1: the approved call runs a
    // second time, though the approved job allowed one run and no BullMQ retry of it happened.
    it('was a hole, fixed: the copy of a job whose only run failed, added with a larger attempts, asks again instead of running', async () => {
      const subject = await start();
      const data = { amount: 4_150, iban: 'DE-MORE-ATTEMPTS', failFirst: 1 };
      const { job, approval } = await awaitApproval(subject, data, { jobId: 'payout-more-attempts', attempts: 1 });
      await broker.approve(approval.id);
      const failed = await waitForJobState(subject.queue, job.id!, 'failed', 15_000);
      expect(failed.failedReason).toContain('failed at the bank');
      expect(subject.ledger.ranFor(job.id!)).toBe(1);

      await failed.remove();
      const copy = await subject.queue.add('send', data, { jobId: job.id!, timestamp: job.timestamp, attempts: 3 });
      // Fixed: `attempts` is part of the binding, so the copy is another job to the gate: it asks a human of its own and waits.
      const own = await broker.waitForApproval((a) => a.status === 'pending' && a.id !== approval.id, { timeoutMs: 15_000 });
      const waiting = await waitForJobState(subject.queue, copy.id!, 'delayed', 15_000);
      expect((waiting.progress as { sesame: { approvalId: string } }).sesame.approvalId).toBe(own.id);
      expect(subject.ledger.ranFor(job.id!)).toBe(1);
    });
  });

  describe('the same queue name elsewhere', () => {
    it('under another prefix on the same Redis: a copy of an approved job gets an approval of its own and waits', async () => {
      const first = await start();
      const data = { amount: 4_200, iban: 'FR-PREFIX' };
      const { job, approval } = await awaitApproval(first, data, { jobId: 'payout-prefix' });
      await broker.approve(approval.id);
      await waitForJobState(first.queue, job.id!, 'completed', 15_000);

      const other = await start({ prefix: 'tenant-b' });
      expect(other.queue.qualifiedName).toBe('tenant-b:payouts');
      const copy = await other.queue.add('send', data, { jobId: job.id!, timestamp: job.timestamp });
      const own = await broker.waitForApproval((a) => a.status === 'pending' && a.summary === summaryOf(data), { timeoutMs: 15_000 });
      const waiting = await waitForJobState(other.queue, copy.id!, 'delayed', 15_000);
      expect(own.id).not.toBe(approval.id);
      expect((waiting.progress as { sesame: { approvalId: string } }).sesame.approvalId).toBe(own.id);
      expect(other.ledger.runs).toEqual([]);
      expect(first.ledger.ranFor(job.id!)).toBe(1);
    });

    it('on another Redis with the same prefix, sharing the store: the copy finds the used approval and is refused', async () => {
      const second = await RedisServer.start();
      try {
        const first = await start();
        const data = { amount: 4_250, iban: 'FR-OTHER-REDIS' };
        const { job, approval } = await awaitApproval(first, data, { jobId: 'payout-other-redis' });
        await broker.approve(approval.id);
        await waitForJobState(first.queue, job.id!, 'completed', 15_000);

        const other = await start({ redis: { port: second.port } });
        const copy = await other.queue.add('send', data, { jobId: job.id!, timestamp: job.timestamp });
        const refused = await waitForJobState(other.queue, copy.id!, ['completed', 'failed'], 15_000);
        expect(refused.failedReason).toContain('approval_already_used');
        expect(other.ledger.runs).toEqual([]);
        expect(first.ledger.ranFor(job.id!)).toBe(1);
        expect(broker.list()).toHaveLength(1);
      } finally {
        for (const subject of apps.splice(1)) {
          await subject.queue.obliterate({ force: true }).catch(() => undefined);
          await subject.app.close();
        }
        await second.stop();
      }
    });
  });

  it("job.progress forged to name another job's approved, unused approval: the job fails as a mismatch, and the other still runs once", async () => {
    // No webhook: the approved job stays delayed until it is promoted by hand.
    const subject = await start({ webhooks: false });
    const approved = await awaitApproval(subject, { amount: 4_300, iban: 'IT-VICTIM' });
    const forger = await awaitApproval(subject, { amount: 4_301, iban: 'IT-FORGER' });
    await broker.approve(approved.approval.id);

    await forger.job.updateProgress({ sesame: { approvalId: approved.approval.id, action: ACTION, status: 'pending' } });
    await forger.job.promote();
    const failed = await waitForJobState(subject.queue, forger.job.id!, 'failed', 15_000);
    expect(failed.failedReason).toContain('approval_mismatch');
    expect(failed.failedReason).toContain(approved.approval.id);

    await approved.job.promote();
    await waitForJobState(subject.queue, approved.job.id!, 'completed', 15_000);
    expect(subject.ledger.runs.map((r) => r.id)).toEqual([approved.job.id]);
  });

  it("a worker 'active' listener changing the job's data in place on the resumed attempt: nothing runs", async () => {
    const subject = await start({ processor: ActiveListenerPayouts });
    const { job, approval } = await awaitApproval(subject, { amount: 4_400, iban: 'ES-ORIGINAL' });
    await broker.approve(approval.id);
    const failed = await waitForJobState(subject.queue, job.id!, 'failed', 15_000);
    expect(failed.failedReason).toContain('approval_mismatch');
    expect(subject.ledger.runs).toEqual([]);
  });

  it('`when` lets a small payout run, and its data changes while `when` awaits: nothing runs', async () => {
    const subject = await start({ processor: WhenPayouts });
    const job = await subject.queue.add('send', { amount: 50, iban: 'NL-WHEN' });
    const failed = await waitForJobState(subject.queue, job.id!, 'failed', 15_000);
    expect(failed.failedReason).toContain('changed while when decided');
    expect(failed.attemptsMade).toBe(1);
    expect(subject.ledger.runs).toEqual([]);
    expect(broker.list()).toEqual([]);
  });

  it('a summary that reads mutable state: once it reads otherwise, the approval of the old text runs nothing', async () => {
    const subject = await start({ processor: RateSummaryPayouts, providers: [Rates] });
    const data = { amount: 4_500, iban: 'BE-RATE' };
    const { job, approval } = await awaitApproval(subject, data, {}, `${summaryOf(data)} at 1.08 EUR/USD`);
    subject.app.get(Rates).current = '0.50 EUR/USD';
    await broker.approve(approval.id);
    const failed = await waitForJobState(subject.queue, job.id!, 'failed', 15_000);
    expect(failed.failedReason).toContain('approval_mismatch');
    expect(subject.ledger.runs).toEqual([]);
  });

  it('a job whose data is not canonical (nested deeper than the binding reads) fails at once: no approval, no run', async () => {
    const subject = await start();
    let nested: unknown = 'bottom';
    for (let i = 0; i < 80; i++) nested = { nested };
    const job = await subject.queue.add('send', { amount: 4_600, iban: 'AT-DEEP', nested });
    const failed = await waitForJobState(subject.queue, job.id!, 'failed', 15_000);
    expect(failed.failedReason).toContain(`payouts#${job.id} did not run`);
    expect(failed.attemptsMade).toBe(1);
    expect(subject.ledger.runs).toEqual([]);
    expect(broker.list()).toEqual([]);
  });

  describe('decision webhooks (validly signed)', () => {
    it("one naming another job's dedup key only wakes that job: it looks at its own approval again and keeps waiting", async () => {
      const subject = await start();
      const first = await awaitApproval(subject, { amount: 4_700, iban: 'PT-FIRST' });
      const second = await awaitApproval(subject, { amount: 4_701, iban: 'PT-SECOND' });
      const secondKey = broker.get(second.approval.id)!.dedup_key;
      expect(secondKey).toContain(':job.');

      // The first approval's decision, pointed at the second job.
      const status = await deliver(subject, {
        approval_id: first.approval.id,
        action: ACTION,
        status: 'approved',
        decided_at: formatWireTimestamp(Date.now()),
        requester_label: null,
        dedup_key: secondKey,
      });
      expect(status).toBe(204);
      await awaitRecheck(subject, second.job, second.job.attemptsStarted);
      expect(broker.get(second.approval.id)!.status).toBe('pending');
      expect(subject.ledger.runs).toEqual([]);

      await broker.approve(first.approval.id);
      await waitForJobState(subject.queue, first.job.id!, 'completed', 15_000);
      expect(subject.ledger.runs.map((r) => r.id)).toEqual([first.job.id]);
      expect(await subject.queue.getJobState(second.job.id!)).toBe('delayed');
      expect(broker.list()).toHaveLength(2);
    });

    it('the delivered decision replayed after the run, under its own webhook-id and under a new one: nothing runs again', async () => {
      const subject = await start();
      const { job, approval } = await awaitApproval(subject, { amount: 4_800, iban: 'SE-REPLAY' });
      await broker.approve(approval.id);
      await waitForJobState(subject.queue, job.id!, 'completed', 15_000);
      const delivered = broker.deliveries.find((d) => d.approvalId === approval.id && d.ok)!;
      expect(delivered).toBeDefined();

      expect(await deliver(subject, delivered.payload, delivered.webhookId)).toBe(204);
      expect(await deliver(subject, delivered.payload)).toBe(204);
      await sleep(300);
      expect(await subject.queue.getJobState(job.id!)).toBe('completed');
      expect(subject.ledger.ranFor(job.id!)).toBe(1);
    });
  });

  describe('an operator moving the job by hand', () => {
    it('while it waits (promote, promote, changeDelay): it asks nothing new and runs nothing; approved, it runs once', async () => {
      const subject = await start();
      const asked = await awaitApproval(subject, { amount: 4_900, iban: 'DK-MOVES' });
      const { approval } = asked;
      let job = asked.job;
      for (let i = 0; i < 2; i++) {
        const started = job.attemptsStarted;
        await job.promote();
        job = (await awaitRecheck(subject, job, started)) as Job<PayoutJobData>;
      }
      await job.changeDelay(5);
      job = (await awaitRecheck(subject, job, job.attemptsStarted)) as Job<PayoutJobData>;
      expect(subject.ledger.runs).toEqual([]);
      expect(broker.list()).toHaveLength(1);
      expect(job.progress).toEqual({ sesame: { approvalId: approval.id, action: ACTION, status: 'pending' } });

      await broker.approve(approval.id);
      await waitForJobState(subject.queue, job.id!, 'completed', 15_000);
      await job.promote().catch(() => undefined);
      expect(subject.ledger.ranFor(job.id!)).toBe(1);
    });

    it('a job whose every allowed run failed, retried with its attempts reset: refused, it ran `attempts` times in all', async () => {
      const subject = await start();
      const { job, approval } = await awaitApproval(subject, { amount: 5_000, iban: 'FI-EXHAUSTED', failFirst: 99 }, { attempts: 2, backoff: { type: 'fixed', delay: 10 } });
      await broker.approve(approval.id);
      const failed = await waitForJobState(subject.queue, job.id!, 'failed', 15_000);
      expect(failed.failedReason).toContain('failed at the bank');
      expect(subject.ledger.ranFor(job.id!)).toBe(2);

      await failed.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      expect(await waitUntil(async () => ((await subject.queue.getJob(job.id!))?.failedReason ?? '').includes('approval_already_used'))).toBe(true);
      expect(await subject.queue.getJobState(job.id!)).toBe('failed');
      expect(subject.ledger.ranFor(job.id!)).toBe(2);
    });

    // Was a HOLE (fixed: a failure is recorded only when BullMQ will retry it): a run that failed is recorded (runJob's `:failed:<run>` mark, lib/approval-gate/approval-gate.ts:419 at
    // 42ca6a8) whatever it threw, and takeJobRun (approval-gate.ts:391-406) lets the next attempt take the next run
    // while runs < opts.attempts, whoever started that attempt. A body that throws BullMQ's
    // UnrecoverableError fails the job with no BullMQ retry; an operator's retry of the failed job (Bull
    // Board "retry", or removeOnFail and the same job added again) then runs the approved call again: a
    // second run that is no BullMQ retry of a failed run.
    it('was a hole, fixed: a job whose run threw an UnrecoverableError, retried by hand while attempts remain, does not run again', async () => {
      const subject = await start();
      const data = { amount: 5_050, iban: 'FI-UNRECOVERABLE', failFirst: 1, unrecoverable: true };
      const { job, approval } = await awaitApproval(subject, data, { attempts: 3, backoff: { type: 'fixed', delay: 10 } });
      await broker.approve(approval.id);
      const failed = await waitForJobState(subject.queue, job.id!, 'failed', 15_000);
      // BullMQ did not retry it: one attempt, one run.
      expect(failed.attemptsMade).toBe(1);
      expect(subject.ledger.ranFor(job.id!)).toBe(1);

      await failed.retry('failed');
      expect(await waitUntil(async () => ['completed', 'failed'].includes(await subject.queue.getJobState(job.id!)), 15_000)).toBe(true);
      // The safe outcome: refused, the approved call ran once.
      expect(subject.ledger.ranFor(job.id!)).toBe(1);
      expect((await subject.queue.getJob(job.id!))!.failedReason).toContain('approval_already_used');
    });
  });

  it('a body that blocks the event loop past lockDuration: the stalled job is taken again while it runs (concurrency 5) and refused; it ran once', async () => {
    const subject = await start({ processor: ShortLockPayouts });
    const { job, approval } = await awaitApproval(subject, { amount: 5_100, iban: 'NO-STALL', blockMs: 2_500, holdMs: 1_500 });
    await broker.approve(approval.id);
    const refusedLine = () => subject.logger.lines.some((l) => l.includes(`already used by job bull:payouts#${job.id}`));
    expect(await waitUntil(async () => refusedLine(), 15_000)).toBe(true);
    // Let the first run end (its completion is refused by BullMQ: it lost its lock).
    await sleep(2_000);
    const after = await subject.queue.getJob(job.id!);
    expect(after!.stalledCounter).toBeGreaterThanOrEqual(1);
    expect(subject.ledger.workerErrors.some((m) => m.startsWith(`Missing lock for job ${job.id}`))).toBe(true);
    expect(subject.ledger.ranFor(job.id!)).toBe(1);
    expect(await subject.queue.getJobState(job.id!)).toBe('failed');
  });

  it('two workers (two apps, five jobs at a time each), prefix and job ids with dots and colons: every approved job runs once in all', async () => {
    const a = await start({ processor: ConcurrentPayouts, prefix: 'acme.eu' });
    const b = await start({ processor: ConcurrentPayouts, prefix: 'acme.eu' });
    const ids = Array.from({ length: 8 }, (_, i) => `pay.${i}:eu.west:v1.${i}`);
    for (const [i, jobId] of ids.entries()) await a.queue.add('send', { amount: 5_200 + i, iban: `CH-${i}.x:y` }, { jobId });
    expect(await waitUntil(async () => broker.list({ status: 'pending' }).length === ids.length, 15_000)).toBe(true);
    expect(await waitUntil(async () => (await a.queue.getDelayedCount()) === ids.length, 15_000)).toBe(true);

    for (const approval of broker.list()) await broker.approve(approval.id);
    for (const jobId of ids) await waitForJobState(a.queue, jobId, 'completed', 15_000);
    const runs = [...a.ledger.runs, ...b.ledger.runs].map((r) => r.id).sort();
    expect(runs).toEqual([...ids].sort());
    expect(broker.list()).toHaveLength(ids.length);
    // Resumed by their webhooks (the re-check is a minute away), each located from its dedup key.
    expect(broker.deliveries.filter((d) => d.ok)).toHaveLength(ids.length);
  });

  it('the store fails exactly while a failed run is recorded: the retry is refused, not run', async () => {
    const store = await RedisServer.start();
    const pauser = new Redis(store.port, '127.0.0.1', { lazyConnect: true });
    try {
      await pauser.connect();
      const subject = await start({ store: { url: store.url, commandTimeout: 300 } });
      const { job, approval } = await awaitApproval(
        subject,
        { amount: 5_300, iban: 'LU-STORE', failFirst: 1, holdMs: 600 },
        { attempts: 4, backoff: { type: 'fixed', delay: 2_500 } },
      );
      await broker.approve(approval.id);
      expect(await waitUntil(async () => subject.ledger.ranFor(job.id!) === 1, 15_000)).toBe(true);
      // The run is under way: the store stops answering until after it failed and tried to record it.
      await pauser.call('CLIENT', 'PAUSE', '2000', 'ALL');
      expect(await waitUntil(async () => subject.logger.lines.some((l) => l.includes('the approval store could not record it')), 10_000)).toBe(true);
      const failed = await waitForJobState(subject.queue, job.id!, 'failed', 15_000);
      expect(failed.failedReason).toContain('approval_already_used');
      expect(subject.ledger.ranFor(job.id!)).toBe(1);
    } finally {
      pauser.disconnect();
      for (const subject of apps.splice(0)) {
        await subject.queue.obliterate({ force: true }).catch(() => undefined);
        await subject.app.close();
      }
      await store.stop();
    }
  });
});

describe('attack 8: secrets of deferred jobs', () => {
  const BULL_PASS = 'bullPASSWORDattack8x71';
  const STORE_PASS = 'storePASSWORDattack8q42';
  let bullRedis: RedisServer;
  let storeRedis: RedisServer;
  let broker: LocalBroker;
  let subject: Attack8App | undefined;

  beforeAll(async () => {
    [bullRedis, storeRedis] = await Promise.all([RedisServer.start({ requirePass: BULL_PASS }), RedisServer.start({ requirePass: STORE_PASS })]);
  });
  afterAll(async () => {
    await Promise.all([bullRedis?.stop(), storeRedis?.stop()]);
  });
  afterEach(async () => {
    await storeRedis.start();
    // Closed while still reconnecting, ioredis keeps a 2 s timer (its connectTimeout) past the app's close.
    const store = subject?.app.get<{ ping(): Promise<unknown> }>(ApprovalStore);
    if (store)
      await waitUntil(() =>
        store.ping().then(
          () => true,
          () => false,
        ),
      );
    await subject?.queue.obliterate({ force: true }).catch(() => undefined);
    await subject?.app.close();
    subject = undefined;
    await broker.stop();
  });

  async function startWithPasswords(brokerKeys: string[]) {
    broker = await LocalBroker.start({ apiKeys: brokerKeys, webhookSecret: SECRET, webhookRetry: { attempts: 2, baseDelayMs: 10, timeoutMs: 5000 } });
    subject = await startAttack8App({
      redis: { port: bullRedis.port, password: BULL_PASS },
      store: { url: `redis://:${STORE_PASS}@127.0.0.1:${storeRedis.port}`, commandTimeout: 300 },
      sesame: { apiKey: API_KEY, baseUrl: broker.url, webhookSecret: SECRET },
      recheckInterval: 300,
    });
    return subject;
  }

  /** Everything of the job a Bull Board, a log shipper or a crash report would show. */
  async function exposed(app: Attack8App, id: string): Promise<string> {
    const job = (await app.queue.getJob(id))!;
    const { logs } = await app.queue.getJobLogs(id);
    return [JSON.stringify(job), job.failedReason, ...(job.stacktrace ?? []), ...logs, JSON.stringify(job.progress), ...app.logger.lines, ...app.ledger.failures].join('\n');
  }

  function expectNoSecret(text: string) {
    for (const secret of [BULL_PASS, STORE_PASS, API_KEY]) expect(text).not.toContain(secret);
  }

  it("the store down after approval: the job's failures name the store, never its password, BullMQ's or the API key", async () => {
    const app = await startWithPasswords([API_KEY]);
    const data = { amount: 5_400, iban: 'IE-SECRETS' };
    const added = await app.queue.add('send', data, { attempts: 3, backoff: { type: 'fixed', delay: 100 } });
    const approval = await broker.waitForApproval((a) => a.status === 'pending' && a.summary === summaryOf(data), { timeoutMs: 15_000 });
    await waitForJobState(app.queue, added.id!, 'delayed', 15_000);
    await storeRedis.stop();
    await broker.approve(approval.id);
    const failed = await waitForJobState(app.queue, added.id!, 'failed', 15_000);
    expect(failed.failedReason).toContain('approval store is unavailable');
    expect(app.ledger.failures.length).toBeGreaterThanOrEqual(1);
    const text = await exposed(app, added.id!);
    expect(text).toContain(approval.id);
    expectNoSecret(text);
    expect(app.ledger.runs).toEqual([]);
  });

  it("the broker refusing the API key: the job's failures never carry the key or a password", async () => {
    const app = await startWithPasswords(['sk_test_SECRET_attack8_other_key']);
    const added = await app.queue.add('send', { amount: 5_500, iban: 'GR-KEY' }, { attempts: 2, backoff: { type: 'fixed', delay: 50 } });
    const failed = await waitForJobState(app.queue, added.id!, 'failed', 15_000);
    expect(failed.failedReason).not.toBe('');
    expect(failed.attemptsMade).toBe(2);
    expect(app.ledger.failures).toHaveLength(2);
    expectNoSecret(await exposed(app, added.id!));
    expect(app.ledger.runs).toEqual([]);
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await sleep(20);
  }
  return false;
}
