import { inspect } from 'node:util';
import { Injectable, Module, type INestApplication, type Provider, type Type } from '@nestjs/common';
import { BullModule, getQueueToken, OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { UnrecoverableError, type Job, type Queue } from 'bullmq';
import { RequireApproval, SesameModule, type SesameModuleOptions } from '../../lib/index.js';
import { freePort } from '../support/free-port.js';
import { createApp, type CapturingLogger } from '../support/nest-apps.js';

export const WEBHOOK_PATH = '/sesame/webhook';
export const QUEUE = 'payouts';
export const ACTION = 'payouts.send';

export interface PayoutJobData {
  amount: number;
  iban: string;
  /** The run throws this many times first (per job id, within one app). */
  failFirst?: number;
  /** The failures of failFirst are BullMQ UnrecoverableErrors (BullMQ itself never retries them). */
  unrecoverable?: boolean;
  /** The run waits this long (ms) before it returns or throws. */
  holdMs?: number;
  /** The run blocks the event loop this long (ms) first: no timer of the process fires meanwhile (lock renewal, stalled check). */
  blockMs?: number;
  nested?: unknown;
}

/** What the human reads: every processor below shows this, so a test finds its approval by it. */
export const summaryOf = (data: { amount: number; iban: string }) => `Send ${data.amount} to ${data.iban}`;

/** Every run of a gated body in one app (`process` started), and what BullMQ's worker saw fail. */
@Injectable()
export class RunLedger {
  readonly runs: { id: string; data: PayoutJobData; attemptsMade: number }[] = [];
  /** util.inspect (hidden fields, any depth) of every error the worker reported for a job. */
  readonly failures: string[] = [];
  readonly #failed = new Map<string, number>();

  ranFor(id: string): number {
    return this.runs.filter((r) => r.id === id).length;
  }

  async run(job: Job<PayoutJobData>): Promise<string> {
    this.runs.push({ id: job.id!, data: structuredClone(job.data), attemptsMade: job.attemptsMade });
    if (job.data.blockMs) {
      const end = Date.now() + job.data.blockMs;
      while (Date.now() < end) {
        // Blocks on purpose: a handler stuck in a synchronous loop.
      }
    }
    if (job.data.holdMs) await new Promise((resolve) => setTimeout(resolve, job.data.holdMs));
    const failed = this.#failed.get(job.id!) ?? 0;
    if (failed < (job.data.failFirst ?? 0)) {
      this.#failed.set(job.id!, failed + 1);
      const message = `payout ${job.id} failed at the bank`;
      throw job.data.unrecoverable ? new UnrecoverableError(message) : new Error(message);
    }
    return `sent ${job.data.amount} to ${job.data.iban}`;
  }

  /** Messages of the errors the worker emitted (e.g. a run's completion refused because its lock was lost). */
  readonly workerErrors: string[] = [];

  recordFailure(error: unknown): void {
    this.failures.push(inspect(error, { showHidden: true, depth: Infinity }));
  }
}

/** The plain deferred processor. */
@Processor(QUEUE)
export class PlainPayouts extends WorkerHost {
  constructor(private readonly ledger: RunLedger) {
    super();
  }

  @RequireApproval(ACTION, { mode: 'deferred', summary: (job: Job<PayoutJobData>) => summaryOf(job.data) })
  process(job: Job<PayoutJobData>): Promise<string> {
    return this.ledger.run(job);
  }

  @OnWorkerEvent('failed')
  onFailed(_job: Job, error: unknown): void {
    this.ledger.recordFailure(error);
  }
}

/**
 * A short lock (1 s) checked for stalls every 200 ms, five jobs at a time: a body that blocks the event
 * loop for longer loses its lock, and the job is taken again while the first run is still going.
 */
@Processor(QUEUE, { lockDuration: 1_000, stalledInterval: 200, maxStalledCount: 5, concurrency: 5 })
export class ShortLockPayouts extends WorkerHost {
  constructor(private readonly ledger: RunLedger) {
    super();
  }

  @RequireApproval(ACTION, { mode: 'deferred', summary: (job: Job<PayoutJobData>) => summaryOf(job.data) })
  process(job: Job<PayoutJobData>): Promise<string> {
    return this.ledger.run(job);
  }

  @OnWorkerEvent('error')
  onError(error: Error): void {
    this.ledger.workerErrors.push(error.message);
  }
}

/** Five jobs at a time (for several workers on one queue). */
@Processor(QUEUE, { concurrency: 5 })
export class ConcurrentPayouts extends WorkerHost {
  constructor(private readonly ledger: RunLedger) {
    super();
  }

  @RequireApproval(ACTION, { mode: 'deferred', summary: (job: Job<PayoutJobData>) => summaryOf(job.data) })
  process(job: Job<PayoutJobData>): Promise<string> {
    return this.ledger.run(job);
  }
}

/**
 * A worker 'active' listener that changes the job's data in place once the job has asked for its
 * approval (its progress shows it): the attempt that resumes after the decision sees other data.
 */
@Processor(QUEUE)
export class ActiveListenerPayouts extends WorkerHost {
  constructor(private readonly ledger: RunLedger) {
    super();
  }

  @RequireApproval(ACTION, { mode: 'deferred', summary: (job: Job<PayoutJobData>) => summaryOf(job.data) })
  process(job: Job<PayoutJobData>): Promise<string> {
    return this.ledger.run(job);
  }

  @OnWorkerEvent('active')
  onActive(job: Job<PayoutJobData>): void {
    if ((job.progress as { sesame?: unknown } | undefined)?.sesame) job.data.iban = 'XX00-ATTACKER';
  }
}

/** `when` lets small payouts run without a human; it awaits, and the job's data changes meanwhile (as another holder of the job object could). */
@Processor(QUEUE)
export class WhenPayouts extends WorkerHost {
  constructor(private readonly ledger: RunLedger) {
    super();
  }

  @RequireApproval(ACTION, {
    mode: 'deferred',
    summary: (job: Job<PayoutJobData>) => summaryOf(job.data),
    when: async (job: Job<PayoutJobData>) => {
      const small = job.data.amount < 100;
      await new Promise((resolve) => setTimeout(resolve, 5));
      job.data.amount = 1_000_000;
      return !small;
    },
  })
  process(job: Job<PayoutJobData>): Promise<string> {
    return this.ledger.run(job);
  }
}

/** Mutable state the summary reads (an exchange rate). */
@Injectable()
export class Rates {
  current = '1.08 EUR/USD';
}

@Processor(QUEUE)
export class RateSummaryPayouts extends WorkerHost {
  constructor(
    private readonly ledger: RunLedger,
    readonly rates: Rates,
  ) {
    super();
  }

  @RequireApproval(ACTION, {
    mode: 'deferred',
    summary(this: RateSummaryPayouts, job: Job<PayoutJobData>) {
      return `${summaryOf(job.data)} at ${this.rates.current}`;
    },
  })
  process(job: Job<PayoutJobData>): Promise<string> {
    return this.ledger.run(job);
  }
}

export interface Attack8AppOptions {
  /** BullMQ's Redis. */
  redis: { port: number; password?: string };
  /** BullMQ's key prefix (default `bull`). */
  prefix?: string;
  /** The approval store: a Redis URL, and its command timeout. */
  store: { url: string; commandTimeout?: number };
  sesame: Pick<SesameModuleOptions, 'apiKey' | 'baseUrl' | 'webhookSecret'>;
  /** Default true: the module's webhook endpoint is mounted and approvals carry a callbackUrl to it. */
  webhooks?: boolean;
  /** Default 60 s: a job that resumes sooner was resumed by its webhook or by hand. */
  recheckInterval?: number;
  processor?: Type;
  providers?: Provider[];
  logger?: CapturingLogger;
}

export interface Attack8App {
  app: INestApplication;
  url: string;
  queue: Queue<PayoutJobData>;
  ledger: RunLedger;
  logger: CapturingLogger;
}

/** A real Nest app: BullMQ on a real Redis, one deferred processor, SesameModule with a Redis store (and its webhook endpoint, listening). */
export async function startAttack8App(options: Attack8AppOptions): Promise<Attack8App> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const webhooks = options.webhooks ?? true;
  const connection = { host: '127.0.0.1', port: options.redis.port, maxRetriesPerRequest: null, ...(options.redis.password && { password: options.redis.password }) };
  @Module({
    imports: [
      BullModule.forRoot({ connection, ...(options.prefix && { prefix: options.prefix }) }),
      BullModule.registerQueue({ name: QUEUE }),
      SesameModule.forRoot({
        env: {},
        ...options.sesame,
        ...(webhooks && { webhookPath: WEBHOOK_PATH }),
        // No retries inside one attempt: a broker or store failure fails the attempt, for BullMQ to retry.
        retry: { retries: 0 },
        store: { type: 'redis', url: options.store.url, ...(options.store.commandTimeout && { commandTimeout: options.store.commandTimeout }) },
        deferred: { recheckInterval: options.recheckInterval ?? 60_000, ...(webhooks && { callbackUrl: `${url}${WEBHOOK_PATH}` }) },
      }),
    ],
    providers: [RunLedger, options.processor ?? PlainPayouts, ...(options.providers ?? [])],
  })
  class Attack8AppModule {}
  const { app, logger } = await createApp('express', { imports: [Attack8AppModule] }, options.logger ? { logger: options.logger } : {});
  try {
    await app.listen(port, '127.0.0.1');
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
  return { app, url, queue: app.get<Queue<PayoutJobData>>(getQueueToken(QUEUE)), ledger: app.get(RunLedger), logger };
}
