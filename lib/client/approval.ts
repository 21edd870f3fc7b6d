import type { ApprovalContext, ApprovalData, ApprovalStatus, WaitOptions } from './approval.types.js';

/** What an Approval needs to wait on itself; implemented by the approvals resource. */
export interface ApprovalWaiter {
  wait(id: string, options?: WaitOptions): Promise<Approval>;
}

/** One approval as the broker last reported it. Immutable: `wait()` resolves with a new instance. */
export class Approval implements ApprovalData {
  readonly id: string;
  readonly action: string;
  readonly summary: string;
  readonly reason: string | null;
  readonly context: ApprovalContext | null;
  readonly status: ApprovalStatus;
  readonly createdAt: Date;
  readonly expiresAt: Date | null;
  readonly decidedAt: Date | null;
  readonly requesterLabel: string | null;
  readonly dedupKey: string | null;
  readonly callbackUrl: string | null;
  readonly #waiter: ApprovalWaiter;

  constructor(data: ApprovalData, waiter: ApprovalWaiter) {
    // Field by field: only these fields belong on an Approval, whatever else the data object carries.
    this.id = data.id;
    this.action = data.action;
    this.summary = data.summary;
    this.reason = data.reason;
    this.context = data.context;
    this.status = data.status;
    this.createdAt = data.createdAt;
    this.expiresAt = data.expiresAt;
    this.decidedAt = data.decidedAt;
    this.requesterLabel = data.requesterLabel;
    this.dedupKey = data.dedupKey;
    this.callbackUrl = data.callbackUrl;
    this.#waiter = waiter;
    Object.freeze(this);
  }

  get approved(): boolean {
    return this.status === 'approved';
  }

  get pending(): boolean {
    return this.status === 'pending';
  }

  /**
   * Resolves with the decided approval (approved, denied or expired); rejects with ApprovalTimeout
   * when still pending at `timeout` ms, or ApprovalAborted when `signal` aborts.
   */
  wait(options?: WaitOptions): Promise<Approval> {
    return this.pending ? this.#waiter.wait(this.id, options) : Promise.resolve(this);
  }

  toJSON(): ApprovalData {
    const { id, action, summary, reason, context, status, createdAt, expiresAt, decidedAt, requesterLabel, dedupKey, callbackUrl } = this;
    return { id, action, summary, reason, context, status, createdAt, expiresAt, decidedAt, requesterLabel, dedupKey, callbackUrl };
  }
}
