/**
 * Deferred jobs across processes: workers in child processes of their own (so they can be SIGKILLed),
 * a real redis-server (stopped and started again), the real local broker and its webhook deliveries.
 * What ran is counted outside the workers: each run of a job's body appends a line to a file as it
 * starts and as it ends (synchronous writes, which a SIGKILL does not undo).
 */
import { generateWebhookSecret } from '../../../lib/index.js';
import { DeferredProcessWorld, until } from '../../support/deferred-process-world.js';
import { readRuns, startsByJob, type WorkerJobData } from '../../support/deferred-worker-process.js';

const SECRET = generateWebhookSecret();
const API_KEY = 'sk_test_SECRET_deferred_processes_7d21';

const payout = (i: number): WorkerJobData => ({ amount: 100 + i, iban: `DE${String(i).padStart(4, '0')}` });
const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i + 1}`);

// A worker process takes about 2 s of CPU to load the library's TypeScript: the five of this file
// are spawned at once, up front (one after the other took 30 s on this loaded 2-core machine). Each
// app, with its BullMQ worker and connections, starts only when its test says: a restarted worker is
// a new process whose app starts after its predecessor was killed.
let restart: DeferredProcessWorld;
let pair: DeferredProcessWorld;
let outage: DeferredProcessWorld;
beforeAll(async () => {
  const common = { apiKey: API_KEY, webhookSecret: SECRET };
  // Settled, not Promise.all: each world that did start is kept, so afterAll stops it even if another failed.
  const started = await Promise.allSettled([
    DeferredProcessWorld.start({ ...common, workers: ['first', 'second'], callbacks: 'one-port' }).then((world) => (restart = world)),
    DeferredProcessWorld.start({ ...common, workers: ['a', 'b'], callbacks: 'fanout' }).then((world) => (pair = world)),
    // Generous redelivery for the outage: 100 ms doubling, 10 attempts, spans about 50 s.
    DeferredProcessWorld.start({ ...common, workers: ['solo'], callbacks: 'own', persistence: true, webhookAttempts: 10 }).then((world) => (outage = world)),
  ]);
  const failed = started.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
}, 60_000);
afterAll(() => Promise.all([restart, pair, outage].map((world) => world?.close())), 30_000);

describe('deferred jobs: a worker killed (SIGKILL) and a new worker process started on the same Redis and store', () => {
  let approvals: Map<string, string>;
  const waiting = ids('wait', 20);
  const denied = new Set(['wait-4', 'wait-11', 'wait-18']);

  beforeAll(async () => {
    const first = await restart.startWorker('first');
    approvals = await restart.addAwaitingApproval([
      ...waiting.map((id, i) => ({ id, data: payout(i) })),
      // Retries left (attempts 3) must not let a run that never reported run again.
      { id: 'running', data: { amount: 999, iban: 'XX99', block: true }, attempts: 3 },
    ]);
    await restart.broker.approve(approvals.get('running')!);
    await until(
      () => startsByJob(restart.dir).get('running') === 1,
      () => 'the approved job never started its body',
    );
    await first.kill();
    // Its successor takes over the address the approvals' callbackUrl names.
    await restart.startWorker('second');
  }, 30_000);

  it('loses no waiting job: each approved one runs its body exactly once (in the new worker), each denied one fails once and runs nothing', async () => {
    expect(readRuns(restart.dir).filter((r) => r.id !== 'running')).toEqual([]);
    for (const id of waiting) await (denied.has(id) ? restart.broker.deny(approvals.get(id)!) : restart.broker.approve(approvals.get(id)!));
    await restart.untilStates(waiting, ['completed', 'failed']);

    const starts = startsByJob(restart.dir);
    for (const id of waiting) {
      const job = await restart.job(id);
      if (denied.has(id)) {
        expect({ id, state: await job.getState(), attemptsMade: job.attemptsMade, starts: starts.get(id) ?? 0 }).toEqual({ id, state: 'failed', attemptsMade: 1, starts: 0 });
        expect(job.failedReason).toContain(`approval ${approvals.get(id)}, status denied`);
      } else {
        expect({ id, state: await job.getState(), returnvalue: job.returnvalue, starts: starts.get(id) }).toEqual({
          id,
          state: 'completed',
          returnvalue: `sent ${job.data.amount}`,
          starts: 1,
        });
      }
    }
    expect(
      new Set(
        readRuns(restart.dir)
          .filter((r) => r.id !== 'running')
          .map((r) => r.worker),
      ),
    ).toEqual(new Set(['second']));
    // The new worker found each job's approval; none was asked for twice.
    expect(restart.broker.list()).toHaveLength(waiting.length + 1);
  });

  it('a job killed while its body ran does not run its body again: the new worker finds it stalled and it fails (approval_already_used) and stays failed, retries left or not', async () => {
    // Failed, or started a second time (a run that would block until the end of the suite).
    await until(
      async () => (await restart.queue.getJobState('running')) === 'failed' || (startsByJob(restart.dir).get('running') ?? 0) > 1,
      async () => `the killed job is ${await restart.queue.getJobState('running')}`,
    );
    expect(
      readRuns(restart.dir)
        .filter((r) => r.id === 'running')
        .map((r) => [r.worker, r.event]),
    ).toEqual([['first', 'start']]);
    const job = await restart.job('running');
    expect(job.failedReason).toContain(`approval_already_used, approval ${approvals.get('running')}`);
    // UnrecoverableError: no BullMQ retry follows, though attempts remain.
    expect(job.attemptsMade).toBeLessThan(3);
    expect(await job.getState()).toBe('failed');
  });
});

describe('deferred jobs: two worker processes on one queue, two replicas receiving every decision webhook', () => {
  const jobs = ids('pair', 50);

  beforeAll(async () => {
    await Promise.all([pair.startWorker('a'), pair.startWorker('b')]);
  }, 30_000);

  it('each approved job runs its body exactly once, though both replicas resume it (under two webhook-ids) and both workers take jobs', async () => {
    const approvals = await pair.addAwaitingApproval(jobs.map((id, i) => ({ id, data: payout(i) })));
    expect(pair.broker.list()).toHaveLength(jobs.length);
    await Promise.all(jobs.map((id) => pair.broker.approve(approvals.get(id)!)));
    await pair.untilStates(jobs, ['completed', 'failed'], 30_000);

    const starts = startsByJob(pair.dir);
    for (const id of jobs) {
      const job = await pair.job(id);
      expect({ id, state: await job.getState(), starts: starts.get(id) }).toEqual({ id, state: 'completed', starts: 1 });
    }
    const fanout = pair.fanout!;
    // Every decision reached both replicas as the broker sent it, and once more under a new webhook-id (those may still be on their way).
    await until(
      () => fanout.answers.filter((a) => a.kind === 'second').length === 2 * jobs.length,
      () => `${fanout.answers.filter((a) => a.kind === 'second').length} second deliveries answered`,
    );
    for (const target of fanout.targets) {
      expect(new Set(fanout.answers.filter((a) => a.target === target && a.kind === 'verbatim').map((a) => a.webhookId)).size).toBe(jobs.length);
    }
    expect(fanout.answers.filter((a) => a.kind === 'second' && a.status === 204).length).toBeGreaterThanOrEqual(jobs.length);
    // Nothing more ran meanwhile, and both worker processes ran jobs.
    const runs = readRuns(pair.dir);
    expect(runs.filter((r) => r.event === 'start')).toHaveLength(jobs.length);
    expect(runs.filter((r) => r.event === 'end')).toHaveLength(jobs.length);
    expect(new Set(runs.map((r) => r.worker))).toEqual(new Set(['a', 'b']));
  }, 45_000);
});

describe('deferred jobs: Redis down while jobs wait and decisions are made (Redis with AOF persistence)', () => {
  let approvals: Map<string, string>;
  const jobs = ids('outage', 12);
  const approved = jobs.slice(0, 8);
  const denied = jobs.slice(8, 10);
  const undecided = jobs.slice(10);

  beforeAll(async () => {
    await outage.startWorker('solo');
    approvals = await outage.addAwaitingApproval(jobs.map((id, i) => ({ id, data: payout(i) })));
  }, 30_000);

  it('nothing runs while Redis is down; once it is back nothing is lost: approved jobs run once, denied ones fail, undecided ones still wait', async () => {
    await outage.redis.stop();
    for (const id of approved) await outage.broker.approve(approvals.get(id)!);
    for (const id of denied) await outage.broker.deny(approvals.get(id)!);
    const decided = [...approved, ...denied].map((id) => approvals.get(id)!);
    // Every decision's webhook is refused (the endpoint cannot reach the store) and will be delivered again.
    const refused = await until(
      () => {
        const failed = decided.map((approvalId) => outage.broker.deliveries.find((d) => d.approvalId === approvalId && !d.ok));
        return failed.every((d) => d !== undefined) && failed;
      },
      () => `deliveries so far: ${JSON.stringify(outage.broker.deliveries.map((d) => [d.approvalId, d.statusCode, d.error]))}`,
    );
    for (const delivery of refused) expect({ status: delivery!.statusCode, willRetry: delivery!.willRetry }).toEqual({ status: 503, willRetry: true });
    expect(readRuns(outage.dir)).toEqual([]);

    await outage.redis.start();
    // Redis came back with every job (a Redis without persistence comes back empty: all 'unknown').
    const states = await Promise.all(jobs.map((id) => outage.queue.getJobState(id)));
    expect(states.filter((state) => state === 'unknown')).toEqual([]);
    await outage.untilStates([...approved, ...denied], ['completed', 'failed'], 30_000);

    const starts = startsByJob(outage.dir);
    for (const id of approved) {
      const job = await outage.job(id);
      expect({ id, state: await job.getState(), starts: starts.get(id) }).toEqual({ id, state: 'completed', starts: 1 });
    }
    for (const id of denied) {
      const job = await outage.job(id);
      expect({ id, state: await job.getState(), starts: starts.get(id) ?? 0 }).toEqual({ id, state: 'failed', starts: 0 });
      expect(job.failedReason).toContain(`approval ${approvals.get(id)}, status denied`);
    }
    for (const id of undecided) {
      const job = await outage.job(id);
      expect({ id, state: await job.getState(), starts: starts.get(id) ?? 0 }).toEqual({ id, state: 'delayed', starts: 0 });
      expect(job.progress).toEqual({ sesame: { approvalId: approvals.get(id), action: 'payouts.send', status: 'pending' } });
    }
    // The decisions arrived by redelivery after the outage; no job asked again.
    expect(outage.broker.list()).toHaveLength(jobs.length);
    for (const approvalId of decided) expect(outage.broker.deliveries.some((d) => d.approvalId === approvalId && d.ok)).toBe(true);
    // The outage's errors were logged without the API key or the webhook secret.
    const worker = outage.workers.get('solo')!;
    const logged = `${(await worker.state()).logs.join('\n')}\n${worker.output}`;
    expect(logged).toContain('503');
    expect(logged).not.toContain(API_KEY);
    expect(logged).not.toContain(SECRET);
  }, 45_000);
});
