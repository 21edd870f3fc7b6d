import { Injectable, Logger } from '@nestjs/common';
import { locateJob } from './deferred-job.js';
import { loadBullmq, type BullmqModule } from './load-bullmq.js';

/** A BullMQ processor of `@nestjs/bullmq` (a WorkerHost): its worker exists once the app has initialised. */
interface ProcessorHost {
  readonly worker: QueueLike;
}

/** A BullMQ Worker or Queue: what Job.fromId() needs to find a job of its queue. */
interface QueueLike {
  readonly qualifiedName: string;
}

interface DelayedJob {
  promote(): Promise<void>;
  getState(): Promise<string>;
}

/** What a decision resumed: `resumed` (promoted), `waiting` (already on its way), `gone` (removed: nothing runs), or no deferred job here. */
export type DeferredResume = 'resumed' | 'waiting' | 'gone' | 'not-deferred' | 'not-here';

/**
 * This app's deferred processors (BullMQ `process(job)` methods gated with `mode: 'deferred'`, found at
 * init), the loaded bullmq package, and the resume of a job when its approval is decided: the decision
 * webhook promotes the delayed job so a worker picks it up at once. Resuming is only a wake-up call: the
 * job's own run checks its approval again, so a promoted job runs only on an approval bound to it.
 */
@Injectable()
export class DeferredApprovals {
  private readonly logger = new Logger('SesameApproval');
  readonly #processors = new Set<ProcessorHost>();
  /** The app's BullMQ queues (BullModule.registerQueue): a replica that only adds jobs resumes them too. */
  readonly #queues = new Set<QueueLike>();
  #bullmq: Promise<BullmqModule> | undefined;

  /** Called by the gate explorer at init for each deferred processor. */
  register(processor: object): void {
    this.#processors.add(processor as ProcessorHost);
    this.#bullmq ??= loadBullmq();
    // Loaded at init; a failure is reported by the first job (and by the boot, which awaits ready()).
    this.#bullmq.catch(() => undefined);
  }

  /** Called by the gate explorer at init for each BullMQ queue provider of the app (bullmq is loaded only when a job must be resumed). */
  registerQueue(queue: object): void {
    this.#queues.add(queue as QueueLike);
  }

  /** Whether this app can resume deferred jobs: it has deferred processors, or BullMQ queues a webhook may name. */
  get active(): boolean {
    return this.#processors.size > 0 || this.#queues.size > 0;
  }

  /** Resolves once bullmq is loaded; rejects with SesameConfigError when it is not installed. */
  async ready(): Promise<void> {
    if (this.#bullmq) await this.#bullmq;
  }

  /** A verified decision webhook (through the module's dispatcher): resumes its job. */
  onDecision(decision: { approvalId: string; status: string; dedupKey: string | null }): Promise<DeferredResume> {
    return this.resume(decision);
  }

  bullmq(): Promise<BullmqModule> {
    return (this.#bullmq ??= loadBullmq());
  }

  /**
   * Promotes the delayed job a decided approval belongs to, if this app has its queue (a deferred
   * processor's worker, or the queue itself). Rejects when Redis cannot be reached, so the webhook is answered 500 and delivered again.
   */
  async resume(decision: { approvalId: string; status: string; dedupKey: string | null }): Promise<DeferredResume> {
    const located = locateJob(decision.dedupKey);
    if (!located) return 'not-deferred';
    const queue = [...[...this.#processors].map((p) => p.worker), ...this.#queues].find((q) => q.qualifiedName === located.queue);
    if (!queue) return 'not-here';
    const { Job } = await this.bullmq();
    const job = (await Job.fromId(queue, located.id)) as DelayedJob | undefined;
    const label = `${located.queue}#${located.id}`;
    if (!job) {
      this.logger.log(`Approval ${decision.approvalId} ${decision.status}: job ${label} no longer exists (removed or drained); nothing runs`);
      return 'gone';
    }
    try {
      await job.promote();
    } catch (error) {
      // Not delayed (any more): a worker has it already, or it finished; anything else is Redis trouble.
      const state = await job.getState();
      if (state === 'delayed') throw error;
      return state === 'unknown' ? 'gone' : 'waiting';
    }
    this.logger.debug(`Approval ${decision.approvalId} ${decision.status}: job ${label} resumed`);
    return 'resumed';
  }
}
