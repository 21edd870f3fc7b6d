/**
 * The Nest app of deferred-jobs.bench.mjs, in its own process (ESM, from dist/), driven over IPC
 * (forkHelper): BullMQ (@nestjs/bullmq) on a real Redis, one processor whose `process(job)` is gated
 * with `mode: 'deferred'` and runs at the given concurrency, and SesameModule with its decision webhook
 * endpoint listening and a Redis approval store.
 *
 *   fork('bench/support/deferred-app-process.mjs', [queueName])   // then `start { redisPort, brokerUrl, apiKey, webhookSecret, concurrency, recheckInterval }`
 *
 * It records, per job id and with epoch-ms instants (performance.timeOrigin + now, comparable across
 * the bench's processes), every pick-up by the worker (`active`), every run of the gated body, and the
 * worker's `completed` / `failed`. Commands: `start`, `whenFinished { count }` (resolves once that many
 * jobs completed or failed), `report { jobIds }`, `stats` (finished count, CPU time,
 * event-loop utilisation, RSS), `webhooks { since }` (when each decision webhook arrived and was answered), `stop`.
 */
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { BullModule, Processor, WorkerHost } from '@nestjs/bullmq';
import { performance } from 'node:perf_hooks';
import { setImmediate } from 'node:timers';
import { RequireApproval, SesameModule } from '../../dist/esm/index.js';
import { decorateClass, decorateMethod } from './nest-decorate.mjs';
import { freePort } from './free-port.mjs';
import { serveCommands } from './child-process-rpc.mjs';

const QUEUE = process.argv[2];
if (!QUEUE) throw new Error('usage: deferred-app-process.mjs QUEUE_NAME (forked, with IPC)');
const WEBHOOK_PATH = '/sesame/webhook';
const now = () => performance.timeOrigin + performance.now();

/** What happened to each job, in this app (one per app: no module-level state). */
class JobRecord {
  constructor() {
    this.jobs = new Map();
    this.finished = 0;
    this.finishWaiters = [];
    this.webhooks = [];
  }

  of(id) {
    let entry = this.jobs.get(id);
    if (!entry) this.jobs.set(id, (entry = { active: [], runs: [], completed: [], failed: [] }));
    return entry;
  }

  finish(id, kind, detail) {
    this.of(id)[kind].push(detail);
    this.finished++;
    this.finishWaiters = this.finishWaiters.filter(({ count, resolve }) => (this.finished >= count ? (resolve(), false) : true));
  }

  whenFinished(count) {
    if (this.finished >= count) return Promise.resolve();
    return new Promise((resolve) => this.finishWaiters.push({ count, resolve }));
  }
}

class BenchProcessor extends WorkerHost {
  constructor(record) {
    super();
    this.record = record;
  }

  async process(job) {
    this.record.of(job.id).runs.push(now());
    return 'done';
  }
}
decorateMethod(BenchProcessor, 'process', [RequireApproval('bench.deferred', { mode: 'deferred', summary: (job) => `Bench job ${job.id}` })], { paramTypes: [Object] });
decorateClass(BenchProcessor, [Processor(QUEUE), Injectable()], { paramTypes: [JobRecord] });

function buildModule(options, callbackUrl) {
  const record = new JobRecord();
  // @nestjs/bullmq reads the worker options (@Processor's second argument) when the app initialises.
  Reflect.defineMetadata('bullmq:worker_metadata', { concurrency: options.concurrency }, BenchProcessor);
  class DeferredBenchModule {}
  decorateClass(DeferredBenchModule, [
    Module({
      imports: [
        BullModule.forRoot({ connection: { host: '127.0.0.1', port: options.redisPort, maxRetriesPerRequest: null } }),
        BullModule.registerQueue({ name: QUEUE }),
        SesameModule.forRoot({
          apiKey: options.apiKey,
          baseUrl: options.brokerUrl,
          env: {},
          webhookSecret: options.webhookSecret,
          webhookPath: WEBHOOK_PATH,
          store: { type: 'redis', url: `redis://127.0.0.1:${options.redisPort}` },
          deferred: { callbackUrl, recheckInterval: options.recheckInterval },
        }),
      ],
      providers: [{ provide: JobRecord, useValue: record }, BenchProcessor],
    }),
  ]);
  return { module: DeferredBenchModule, record };
}

let app;
let record;
const commands = {
  async start(options) {
    const port = await freePort();
    const built = buildModule(options, `http://127.0.0.1:${port}${WEBHOOK_PATH}`);
    record = built.record;
    app = await NestFactory.create(built.module, { logger: false, rawBody: true });
    // When each decision webhook reached the app and when its answer went out (the broker's own figure adds its socket queue).
    app.use((req, res, next) => {
      if (req.method === 'POST' && req.url === WEBHOOK_PATH) {
        const arrived = now();
        res.on('finish', () => record.webhooks.push({ arrived, answered: now(), status: res.statusCode }));
      }
      next();
    });
    await app.listen(port, '127.0.0.1');
    const worker = app.get(BenchProcessor).worker;
    worker.on('active', (job) => record.of(job.id).active.push(now()));
    worker.on('completed', (job) => record.finish(job.id, 'completed', now()));
    worker.on('failed', (job, error) => record.finish(job.id, 'failed', { at: now(), reason: error?.message ?? String(error) }));
    worker.on('error', (error) => process.stderr.write(`  worker error: ${error?.message ?? error}\n`));
    return { url: `http://127.0.0.1:${port}`, concurrency: worker.opts.concurrency };
  },
  async whenFinished({ count }) {
    await record.whenFinished(count);
    return { finished: record.finished };
  },
  report({ jobIds }) {
    return { jobs: jobIds.map((id) => [id, record.jobs.get(id) ?? null]), finished: record.finished };
  },
  stats() {
    return { finished: record.finished, cpu: process.cpuUsage(), elu: performance.eventLoopUtilization(), rssMiB: process.memoryUsage().rss / 2 ** 20 };
  },
  webhooks({ since }) {
    return { webhooks: record.webhooks.filter((w) => w.arrived >= since) };
  },
  async stop() {
    await app?.close();
    setImmediate(() => process.disconnect());
    return {};
  },
};

serveCommands(commands, { pid: process.pid });
