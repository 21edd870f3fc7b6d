import { Injectable, Logger } from '@nestjs/common';
import { locateJob } from './deferred-job.js';
import { loadBullmq, type BullmqModule } from './load-bullmq.js';

/** A BullMQ processor of `@nestjs/bullmq` (a WorkerHost): its worker exists once the app has initialised. */
interface ProcessorHost {
  readonly worker: { readonly qualifiedName: string };
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
  #bullmq: Promise<BullmqModule> | undefined;

  /** Called by the gate explorer at init for each deferred processor. */
  register(processor: object): void {
    this.#processors.add(processor as ProcessorHost);
    this.#bullmq ??= loadBullmq();
    // Loaded at init; a failure is reported by the first job (and by the boot, which awaits ready()).
    this.#bullmq.catch(() => undefined);
  }

  /** Whether this app has deferred processors. */
  get active(): boolean {
    return this.#processors.size > 0;
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
   * Promotes the delayed job a decided approval belongs to, if one of this app's processors serves its
   * queue. Rejects when Redis cannot be reached, so the webhook is answered 500 and delivered again.
   */
  async resume(decision: { approvalId: string; status: string; dedupKey: string | null }): Promise<DeferredResume> {
    const located = locateJob(decision.dedupKey);
    if (!located) return 'not-deferred';
    const worker = [...this.#processors].map((p) => p.worker).find((w) => w.qualifiedName === located.queue);
    if (!worker) return 'not-here';
    const { Job } = await this.bullmq();
    const job = (await Job.fromId(worker, located.id)) as DelayedJob | undefined;
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
