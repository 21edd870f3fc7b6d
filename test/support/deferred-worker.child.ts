/**
 * A deferred-jobs worker in a Node process of its own, so a test can SIGKILL it: a Nest app with BullMQ,
 * a deferred processor and SesameModule's webhook endpoint. Run by DeferredWorkerProcess
 * (deferred-worker-process.ts) as
 *
 *   node --import ./test/support/ts-source.loader.mjs test/support/deferred-worker.child.ts '<DeferredWorkerConfig as JSON>'
 *
 * and asked over IPC (child-app-host.ts) to start, read and stop its app. Every run of the job's body is
 * appended to `runsFile` with a synchronous write as it starts and as it ends, so what ran survives the
 * process being killed.
 */
import { appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Module, type INestApplication, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { BullModule, Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job } from 'bullmq';
import { RequireApproval, SesameModule } from '../../lib/index.js';
import { serveChildApps } from './child-app-host.js';

export interface DeferredWorkerConfig {
  /** Names the worker in its run records. */
  name: string;
  queue: string;
  webhookPath: string;
  redisPort: number;
  /** Loopback port the app listens on (a restarted worker takes over its predecessor's). */
  port: number;
  /** The approvals' callbackUrl (the app's own endpoint, or a front in the test's process). */
  callbackUrl: string;
  webhookSecret: string;
  runsFile: string;
  /** A run of a job with `data.block` waits until a file named after the job id exists here. */
  releaseDir: string;
  concurrency: number;
  /** BullMQ's: a killed worker's active jobs are found stalled once their lock (this long) lapsed. */
  lockDuration: number;
  stalledInterval: number;
  recheckInterval: number;
}

export interface WorkerJobData {
  amount: number;
  iban: string;
  /** The run blocks until released (a file in releaseDir): for a kill while the body runs. */
  block?: boolean;
}

/** One line of the runs file. */
export interface WorkerRunRecord {
  worker: string;
  pid: number;
  id: string;
  attemptsMade: number;
  event: 'start' | 'end';
}

export interface DeferredWorkerState {
  pid: number;
  logs: string[];
}

function workerModule(config: DeferredWorkerConfig, brokerUrl: string, apiKey: string) {
  const record = (job: Job<WorkerJobData>, event: WorkerRunRecord['event']) => {
    const row: WorkerRunRecord = { worker: config.name, pid: process.pid, id: job.id!, attemptsMade: job.attemptsMade, event };
    appendFileSync(config.runsFile, `${JSON.stringify(row)}\n`);
  };

  @Processor(config.queue, { concurrency: config.concurrency, lockDuration: config.lockDuration, stalledInterval: config.stalledInterval })
  class RecordedPayoutsProcessor extends WorkerHost {
    @RequireApproval('payouts.send', { mode: 'deferred', summary: (job: Job<WorkerJobData>) => `Send ${job.data.amount} to ${job.data.iban}` })
    async process(job: Job<WorkerJobData>): Promise<string> {
      record(job, 'start');
      while (job.data.block && !existsSync(join(config.releaseDir, job.id!))) await new Promise((resolve) => setTimeout(resolve, 20));
      record(job, 'end');
      return `sent ${job.data.amount}`;
    }
  }

  @Module({
    imports: [
      BullModule.forRoot({ connection: { host: '127.0.0.1', port: config.redisPort, maxRetriesPerRequest: null } }),
      BullModule.registerQueue({ name: config.queue }),
      SesameModule.forRoot({
        env: {},
        apiKey,
        baseUrl: brokerUrl,
        webhookSecret: config.webhookSecret,
        webhookPath: config.webhookPath,
        store: { type: 'redis', url: `redis://127.0.0.1:${config.redisPort}` },
        deferred: { recheckInterval: config.recheckInterval, callbackUrl: config.callbackUrl },
      }),
    ],
    providers: [RecordedPayoutsProcessor],
  })
  class DeferredWorkerModule {}
  return DeferredWorkerModule;
}

/** Keeps the app's log lines for state() (the test's nest-apps.ts would load Fastify and @nestjs/testing here too). */
class LineLogger implements LoggerService {
  readonly lines: string[] = [];
  log = (message: unknown) => void this.lines.push(`log ${String(message)}`);
  error = (message: unknown, ...rest: unknown[]) => void this.lines.push(`error ${[message, ...rest].map(String).join(' ')}`);
  warn = (message: unknown) => void this.lines.push(`warn ${String(message)}`);
  debug = (message: unknown) => void this.lines.push(`debug ${String(message)}`);
  verbose = (message: unknown) => void this.lines.push(`verbose ${String(message)}`);
}

/** One app, started when the host says (the process loads its code first, which takes a while). */
class DeferredWorkerApps {
  private app: INestApplication | undefined;
  private readonly logger = new LineLogger();

  constructor(private readonly config: DeferredWorkerConfig) {}

  async start(brokerUrl: string, apiKey: string): Promise<string> {
    const app = await NestFactory.create(workerModule(this.config, brokerUrl, apiKey), new ExpressAdapter(), { rawBody: true, logger: this.logger, abortOnError: false });
    this.app = app;
    await app.listen(this.config.port, '127.0.0.1');
    return `http://127.0.0.1:${this.config.port}`;
  }

  state(): DeferredWorkerState {
    return { pid: process.pid, logs: [...this.logger.lines] };
  }

  async stop(): Promise<DeferredWorkerState> {
    const app = this.app;
    this.app = undefined;
    await app?.close();
    return this.state();
  }
}

// Only this file run as the entry point serves (Jest's workers have process.send too).
if (process.send && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  serveChildApps(new DeferredWorkerApps(JSON.parse(process.argv[2]!) as DeferredWorkerConfig));
}
