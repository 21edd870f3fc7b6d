import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, type Job } from 'bullmq';
import { LocalBroker, type WireApproval } from '../../lib/testing/index.js';
import { QUEUE, WEBHOOK_PATH } from './deferred-apps.js';
import { freePort } from './free-port.js';
import { DeferredWorkerProcess, readRuns, releaseJob, runsFileOf, type WorkerJobData } from './deferred-worker-process.js';
import { RedisServer } from './redis-server.js';
import { WebhookFanout } from './webhook-fanout.js';

export interface DeferredProcessWorldOptions {
  apiKey: string;
  webhookSecret: string;
  /** The worker processes, spawned at once (each takes a while to load its code); their apps start when told. */
  workers: string[];
  /**
   * Where the approvals' callbackUrl points: `own` (each worker's own endpoint), `one-port` (every
   * worker listens on the same port, one at a time: a restarted worker takes over its predecessor's
   * address), `fanout` (a WebhookFanout in front of all of them, also sending each decision a second time).
   */
  callbacks: 'own' | 'one-port' | 'fanout';
  /** Redis with AOF persistence (into a temporary directory), so a stopped server comes back with its data. */
  persistence?: boolean;
  /** The broker's delivery attempts per decision (100 ms, doubling). Default 5. */
  webhookAttempts?: number;
}

/**
 * One suite's processes for deferred jobs: a real redis-server, the local broker, worker processes
 * (deferred-worker.child.ts) on the queue, a queue client in the test's process, and the directory the
 * workers record their runs in.
 */
export class DeferredProcessWorld {
  readonly queue: Queue<WorkerJobData>;
  readonly dir = mkdtempSync(join(tmpdir(), 'sesame-deferred-'));

  private constructor(
    readonly redis: RedisServer,
    readonly broker: LocalBroker,
    private readonly dataDir: string | undefined,
    private readonly apiKey: string,
  ) {
    this.queue = new Queue<WorkerJobData>(QUEUE, { connection: { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null } });
    // While Redis is down the test's own client complains; it reconnects by itself.
    this.queue.on('error', () => undefined);
  }

  readonly workers = new Map<string, DeferredWorkerProcess>();
  fanout: WebhookFanout | undefined;

  static async start(options: DeferredProcessWorldOptions): Promise<DeferredProcessWorld> {
    const dataDir = options.persistence ? mkdtempSync(join(tmpdir(), 'sesame-redis-')) : undefined;
    const redis = await RedisServer.start(dataDir ? { persistence: { dir: dataDir, aof: 'everysec' } } : {});
    const broker = await LocalBroker.start({
      apiKeys: [options.apiKey],
      webhookSecret: options.webhookSecret,
      webhookRetry: { attempts: options.webhookAttempts ?? 5, baseDelayMs: 100, timeoutMs: 5_000 },
    }).catch(async (error: unknown) => {
      await redis.stop();
      throw error;
    });
    const world = new DeferredProcessWorld(redis, broker, dataDir, options.apiKey);
    try {
      const shared = await freePort();
      const ports = await Promise.all(options.workers.map(async () => (options.callbacks === 'one-port' ? shared : await freePort())));
      if (options.callbacks === 'fanout') {
        world.fanout = await WebhookFanout.start({ targets: ports.map((p) => `http://127.0.0.1:${p}`), second: { secrets: [options.webhookSecret] } });
      }
      const spawned = await Promise.all(
        options.workers.map((name, i) =>
          DeferredWorkerProcess.spawn({
            name,
            queue: QUEUE,
            webhookPath: WEBHOOK_PATH,
            redisPort: redis.port,
            port: ports[i]!,
            callbackUrl: `${world.fanout?.url ?? `http://127.0.0.1:${ports[i]}`}${WEBHOOK_PATH}`,
            webhookSecret: options.webhookSecret,
            runsFile: runsFileOf(world.dir, name),
            releaseDir: world.dir,
            concurrency: 4,
            // A killed worker's active job is found stalled about a second later, not after BullMQ's 30 s.
            lockDuration: 1_000,
            stalledInterval: 500,
            // Far beyond the tests: a job that resumes was resumed by its decision webhook.
            recheckInterval: 120_000,
          }),
        ),
      );
      for (const worker of spawned) world.workers.set(worker.name, worker);
    } catch (error) {
      await world.close();
      throw error;
    }
    return world;
  }

  /** Starts worker `name`'s app (its process is already up). */
  async startWorker(name: string): Promise<DeferredWorkerProcess> {
    const worker = this.workers.get(name)!;
    await worker.start({ url: this.broker.url, apiKey: this.apiKey });
    return worker;
  }

  /** Adds the jobs and resolves once each has its pending approval and waits delayed: job id -> approval id. */
  async addAwaitingApproval(jobs: { id: string; data: WorkerJobData; attempts?: number }[]): Promise<Map<string, string>> {
    await this.queue.addBulk(
      jobs.map(({ id, data, attempts }) => ({ name: 'send', data, opts: { jobId: id, ...(attempts && { attempts, backoff: { type: 'fixed', delay: 10 } }) } })),
    );
    const approvals = await until(
      () => {
        const bySummary = new Map(this.broker.list({ status: 'pending' }).map((a: WireApproval) => [a.summary, a.id]));
        const found = jobs.map(({ id, data }) => [id, bySummary.get(summaryOf(data))] as const);
        return found.every(([, approval]) => approval !== undefined) && new Map(found as [string, string][]);
      },
      () => `${this.broker.list({ status: 'pending' }).length} of ${jobs.length} approvals pending`,
    );
    await this.untilStates(
      jobs.map((j) => j.id),
      ['delayed'],
    );
    return approvals;
  }

  /** Resolves once every job is in one of `states` (polled: BullMQ's state lives in Redis). */
  async untilStates(ids: string[], states: string[], timeoutMs = 15_000): Promise<void> {
    const look = () => Promise.all(ids.map(async (id) => [id, await this.queue.getJobState(id)] as const));
    await until(
      async () => (await look()).every(([, state]) => states.includes(state)),
      async () => `expected ${states.join('/')}, found ${JSON.stringify(Object.fromEntries((await look()).filter(([, s]) => !states.includes(s))))}`,
      timeoutMs,
    );
  }

  job(id: string): Promise<Job<WorkerJobData>> {
    return this.queue.getJob(id) as Promise<Job<WorkerJobData>>;
  }

  /** Stops everything, each step even if one before it failed (a redis-server left running outlives the test run). */
  async close(): Promise<void> {
    const steps: (() => Promise<unknown>)[] = [
      // Any blocked run may end now, so a worker's graceful close does not wait on it.
      async () => readRuns(this.dir).forEach((run) => releaseJob(this.dir, run.id)),
      () => Promise.all([...this.workers.values()].map((w) => w.stop())),
      async () => this.fanout?.close(),
      async () => this.redis.running && this.queue.obliterate({ force: true }),
      () => this.queue.close(),
      () => this.broker.stop(),
      () => this.redis.stop(),
    ];
    const failures: unknown[] = [];
    for (const step of steps) await step().catch((error: unknown) => failures.push(error));
    rmSync(this.dir, { recursive: true, force: true });
    if (this.dataDir) rmSync(this.dataDir, { recursive: true, force: true });
    if (failures.length > 0) throw new AggregateError(failures, 'closing the deferred process world');
  }
}

/** What the worker's processor puts in its approvals' summary. */
export const summaryOf = (data: WorkerJobData): string => `Send ${data.amount} to ${data.iban}`;

/** Polls `check` until it gives a value (not undefined or false); fails after `timeoutMs` with what `describe` says of the last look. */
export async function until<T>(check: () => Promise<T | undefined | false> | T | undefined | false, describe: () => Promise<string> | string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms: ${await describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
