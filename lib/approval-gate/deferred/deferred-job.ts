import type { Approval } from '../../client/approval.js';
import { SesameConfigError } from '../../errors.js';
import type { GatedCall } from '../gated-method.js';
import type { ApprovalTraceLink } from '../../telemetry/approval-telemetry.js';

/** What the gate reads and calls on the BullMQ `Job` a processor's `process(job, token)` receives. */
interface BullJob {
  id?: string;
  name: string;
  attemptsMade: number;
  queueQualifiedName: string;
  timestamp: number;
  data: unknown;
  opts?: { attempts?: number };
  progress: unknown;
  updateProgress(progress: unknown): Promise<void>;
  log(row: string): Promise<unknown>;
  moveToDelayed(timestamp: number, token?: string): Promise<void>;
  promote(): Promise<void>;
}

/** Where a deferred job shows its approval (`job.progress.sesame`, e.g. in Bull Board). */
export interface DeferredApprovalProgress {
  approvalId: string;
  action: string;
  status: 'pending';
  /** The `sesame.approval` span of the attempt that asked (W3C ids), which later runs link to; only with an OpenTelemetry SDK. */
  trace?: ApprovalTraceLink;
}

const LOCATOR = 'job.';

/**
 * The BullMQ job a deferred gate runs for: what its approval is bound to (the queue, the job's id, name,
 * creation time and data), where it records its approval, and how it waits (delayed, holding no worker).
 */
export class DeferredJob {
  private constructor(
    private readonly job: BullJob,
    private readonly token: string,
  ) {}

  /** The job and lock token of `process(job, token)`; anything else fails closed (the boot check sees only the method's name). */
  static of(call: GatedCall): DeferredJob {
    const [job, token] = call.args as [Partial<BullJob> | undefined, unknown];
    const isJob =
      typeof job === 'object' &&
      job !== null &&
      typeof job.id === 'string' &&
      typeof job.queueQualifiedName === 'string' &&
      typeof job.timestamp === 'number' &&
      typeof job.moveToDelayed === 'function' &&
      typeof job.updateProgress === 'function';
    if (!isJob || typeof token !== 'string' || token === '') {
      throw new SesameConfigError(
        `${call.className}.${call.methodName}(): mode 'deferred' runs only as a BullMQ worker's process(job, token) call, and this call did not pass a job and its lock token`,
      );
    }
    return new DeferredJob(job as BullJob, token);
  }

  /** `payouts#42` (the queue's name with its prefix, and the job id), for logs and errors. */
  get label(): string {
    return `${this.job.queueQualifiedName}#${this.job.id}`;
  }

  /**
   * What the approval is bound to: a removed job re-added under its id (another creation time) needs its
   * own approval, and so does a copy allowed more runs (`attempts`) than the job the human approved.
   */
  get binding(): unknown[] {
    const { queueQualifiedName: queue, id, name, timestamp, data } = this.job;
    return [{ queue, id, name, timestamp, attempts: this.maxRuns, data: data ?? null }];
  }

  /**
   * Whether BullMQ retries this job after its run threw `error`: not an UnrecoverableError, and attempts left
   * (BullMQ's own rule). Only then may the approval run it again; a retry by hand after that is refused.
   */
  retriedAfter(error: unknown, unrecoverable: abstract new (...args: never[]) => Error): boolean {
    const final = error instanceof unrecoverable || (error as { name?: unknown } | null)?.name === 'UnrecoverableError';
    return !final && this.job.attemptsMade + 1 < this.maxRuns;
  }

  /** How many runs one approval allows: the first, and BullMQ's retries of a run that failed (the job's `attempts`). */
  get maxRuns(): number {
    const attempts = this.job.opts?.attempts;
    return Number.isInteger(attempts) && attempts! > 1 ? attempts! : 1;
  }

  /**
   * Tells apart approvals of one binding (there is one per job) and locates the job from a decision
   * webhook's dedup key. Undefined when the queue name and id are too long for a dedup key: the job then
   * resumes at its next re-check only.
   */
  get locator(): string | undefined {
    const locator = `${LOCATOR}${encode(this.job.queueQualifiedName)}.${encode(this.job.id!)}`;
    return locator.length <= 140 ? locator : undefined;
  }

  /** The approval this job recorded on an earlier attempt, if its progress still shows one. */
  get recordedApprovalId(): string | undefined {
    const sesame = (this.job.progress as { sesame?: Partial<DeferredApprovalProgress> } | null | undefined)?.sesame;
    return typeof sesame?.approvalId === 'string' && sesame.approvalId !== '' ? sesame.approvalId : undefined;
  }

  /**
   * Records the approval on the job (progress and a log line) and moves the job to the delayed set until
   * `until`: the worker is free at once; a decision webhook promotes it sooner.
   */
  /** The span recorded by the attempt that asked, as read back (the telemetry links only well-formed ids). */
  get recordedTrace(): unknown {
    return (this.job.progress as { sesame?: { trace?: unknown } } | null | undefined)?.sesame?.trace;
  }

  async awaitDecision(approval: Approval, until: number, trace?: ApprovalTraceLink): Promise<void> {
    if (this.recordedApprovalId !== approval.id) {
      const progress = this.job.progress;
      const own: DeferredApprovalProgress = { approvalId: approval.id, action: approval.action, status: 'pending', ...(trace && { trace }) };
      await this.job.updateProgress(typeof progress === 'object' && progress !== null && !Array.isArray(progress) ? { ...progress, sesame: own } : { sesame: own });
      await this.job.log(`Sesame approval ${approval.id} requested (${approval.action}); the job waits for the decision`);
    }
    await this.delay(until);
  }

  /** Moves the delayed job back to the wait list, for a worker to pick up at once. */
  promote(): Promise<void> {
    return this.job.promote();
  }

  /** Moves the job to the delayed set until `until` (ms since the epoch); the caller then throws BullMQ's DelayedError. */
  delay(until: number): Promise<void> {
    return this.job.moveToDelayed(until, this.token);
  }
}

/** The queue (with its prefix) and job id a deferred approval's dedup key locates, or undefined. */
export function locateJob(dedupKey: string | null): { queue: string; id: string } | undefined {
  const at = dedupKey?.lastIndexOf(`:${LOCATOR}`) ?? -1;
  if (at < 0) return undefined;
  const [queue, id, ...rest] = dedupKey!.slice(at + 1 + LOCATOR.length).split('.');
  if (queue === undefined || id === undefined || rest.length > 0) return undefined;
  try {
    return { queue: decode(queue), id: decode(id) };
  } catch {
    return undefined;
  }
}

const encode = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
function decode(text: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(text)) throw new Error('not base64url');
  return Buffer.from(text, 'base64url').toString('utf8');
}
