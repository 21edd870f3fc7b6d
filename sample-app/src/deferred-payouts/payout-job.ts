import type { Job, JobState } from 'bullmq';

/** The BullMQ queue deferred payouts run on, and the approval action they wait for. */
export const PAYOUT_QUEUE = 'payouts';
export const SEND_PAYOUT_ACTION = 'payouts.send';

/** A job's data: what the approver is shown and what is sent (the approval is bound to exactly this). */
export interface PayoutJobData {
  amount: number;
  currency: string;
  destination: string;
}

/** What a job that ran returns: the transfer it made. */
export interface PayoutSent {
  transferId: string;
  sentAt: string;
}

/** A payout job as `GET /payouts/:jobId` shows it. */
export interface PayoutJobView extends PayoutJobData {
  jobId: string;
  /** BullMQ's state: `delayed` while the approval is pending, `completed` once sent, `failed` when refused. */
  state: JobState | 'unknown';
  /** The approval the job waits for or ran on, from `job.progress.sesame` (null until a worker has asked for it). */
  approvalId: string | null;
  attemptsMade: number;
  result: PayoutSent | null;
  failedReason: string | null;
  createdAt: string;
  finishedAt: string | null;
}

export function payoutJobView(job: Job<PayoutJobData, PayoutSent>, state: JobState | 'unknown'): PayoutJobView {
  const sesame = (job.progress as { sesame?: { approvalId?: unknown } } | null | undefined)?.sesame;
  return {
    jobId: job.id!,
    state,
    approvalId: typeof sesame?.approvalId === 'string' ? sesame.approvalId : null,
    amount: job.data.amount,
    currency: job.data.currency,
    destination: job.data.destination,
    attemptsMade: job.attemptsMade,
    result: job.returnvalue ?? null,
    failedReason: job.failedReason ?? null,
    createdAt: new Date(job.timestamp).toISOString(),
    finishedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
  };
}
