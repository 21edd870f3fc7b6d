import { Injectable, Module, type DynamicModule, type INestApplication, type Provider, type Type } from '@nestjs/common';
import { BullModule, getQueueToken, Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job, Queue } from 'bullmq';
import { RequireApproval, SesameModule, type ApprovalPolicy, type SesameModuleOptions } from '../../lib/index.js';
import { createApp, type AdapterName, type CapturingLogger } from './nest-apps.js';
import { freePort } from './free-port.js';

export const WEBHOOK_PATH = '/sesame/webhook';
export const QUEUE = 'payouts';

export interface PayoutData {
  amount: number;
  iban: string;
  /** Makes the run throw this many times first (a failure after approval). */
  failFirst?: number;
}

/** Every run of a deferred job's body: job id, attempt, data. */
@Injectable()
export class JobLedger {
  readonly runs: { id: string; attemptsMade: number; data: PayoutData }[] = [];
  readonly #failed = new Map<string, number>();

  ranFor(id: string): number {
    return this.runs.filter((r) => r.id === id).length;
  }

  /** Whether this run should fail (data.failFirst counts the failures per job). */
  shouldFail(job: Job<PayoutData>): boolean {
    const failed = this.#failed.get(job.id!) ?? 0;
    if (failed >= (job.data.failFirst ?? 0)) return false;
    this.#failed.set(job.id!, failed + 1);
    return true;
  }
}

@Processor(QUEUE)
export class PayoutsProcessor extends WorkerHost {
  constructor(private readonly ledger: JobLedger) {
    super();
  }

  @RequireApproval('payouts.send', { mode: 'deferred', summary: (job: Job<PayoutData>) => `Send ${job.data.amount} to ${job.data.iban}` })
  async process(job: Job<PayoutData>): Promise<string> {
    this.ledger.runs.push({ id: job.id!, attemptsMade: job.attemptsMade, data: job.data });
    if (this.ledger.shouldFail(job)) throw new Error(`payout ${job.id} failed at the bank`);
    return `sent ${job.data.amount}`;
  }
}

export interface DeferredAppOptions {
  adapter?: AdapterName;
  /** BullMQ's Redis. */
  redisPort: number;
  /** The approval store's Redis URL (default: the BullMQ one). */
  storeUrl?: string;
  sesame: SesameModuleOptions;
  /** Default true: the module's webhook endpoint is mounted and approvals carry a callbackUrl to it. */
  webhooks?: boolean;
  processors?: Type[];
  providers?: Provider[];
  controllers?: Type[];
  /** SesameModule's `policy` extra. */
  policy?: Type<ApprovalPolicy>;
  concurrency?: number;
  logger?: CapturingLogger | false;
  imports?: DynamicModule[];
}

export interface DeferredApp {
  app: INestApplication;
  url: string;
  queue: Queue<PayoutData>;
  ledger: JobLedger;
  logger: CapturingLogger;
}

/** A real Nest app with BullMQ (a real Redis), the deferred processor, and SesameModule with its webhook endpoint, listening. */
export async function startDeferredApp(options: DeferredAppOptions): Promise<DeferredApp> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const webhooks = options.webhooks ?? true;
  const processors = options.processors ?? [PayoutsProcessor];
  @Module({
    imports: [
      BullModule.forRoot({ connection: { host: '127.0.0.1', port: options.redisPort, maxRetriesPerRequest: null } }),
      BullModule.registerQueue({ name: QUEUE }),
      SesameModule.forRoot({
        env: {},
        ...(webhooks && { webhookPath: WEBHOOK_PATH }),
        ...options.sesame,
        deferred: { ...(webhooks && { callbackUrl: `${url}${WEBHOOK_PATH}` }), ...options.sesame.deferred },
        ...(options.policy && { policy: options.policy }),
      }),
      ...(options.imports ?? []),
    ],
    providers: [JobLedger, ...processors, ...(options.providers ?? [])],
    controllers: options.controllers ?? [],
  })
  class DeferredAppModule {}
  const { app, logger } = await createApp(options.adapter ?? 'express', { imports: [DeferredAppModule] }, options.logger === undefined ? {} : { logger: options.logger });
  if (options.concurrency !== undefined) {
    // Set before init creates the workers: @nestjs/bullmq reads @Processor's options then.
    for (const processor of processors) Reflect.defineMetadata('bullmq:worker_metadata', { concurrency: options.concurrency }, processor);
  }
  try {
    await app.listen(port, '127.0.0.1');
  } catch (error) {
    // A boot that failed may have started BullMQ's workers already: closed, or they would take later tests' jobs.
    await app.close().catch(() => undefined);
    throw error;
  }
  return { app, url, queue: app.get<Queue<PayoutData>>(getQueueToken(QUEUE)), ledger: app.get(JobLedger), logger };
}

/** Resolves once the job is in `state` (polled: BullMQ's state lives in Redis); rejects after `timeoutMs`. */
export async function waitForJobState(queue: Queue, id: string, state: string | string[], timeoutMs = 10_000): Promise<Job> {
  const states = Array.isArray(state) ? state : [state];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // The state first, then the job: a job read before its state changed would show the fields of the state before.
    const now = await queue.getJobState(id);
    const job = states.includes(now) ? await queue.getJob(id) : undefined;
    if (job) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${now} after ${timeoutMs} ms, expected ${states.join(' or ')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
