import { Logger } from '@nestjs/common';
import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { RequireApproval } from 'nestjs-sesame';
import { formatMoney } from '../money.js';
import { payoutSummary } from '../payouts/payout-summary.js';
import { PAYOUT_QUEUE, SEND_PAYOUT_ACTION, type PayoutJobData, type PayoutSent } from './payout-job.js';

/**
 * Sends payouts from the queue, each once a human approved it. The first attempt asks for the approval
 * (bound to this job and its data) and parks the job, delayed, holding no worker; the decision webhook
 * wakes it, and process() runs then, once. Denied or expired: the job fails, and nothing was sent.
 */
@Processor(PAYOUT_QUEUE)
export class PayoutsProcessor extends WorkerHost {
  private readonly logger = new Logger('Payouts');

  @RequireApproval(SEND_PAYOUT_ACTION, {
    mode: 'deferred',
    summary: (job: Job<PayoutJobData>) => payoutSummary(job.data),
    reason: 'Merchant payout requested through the API',
    context: (job: Job<PayoutJobData>) => ({ jobId: job.id, ...job.data }),
    // How long the approver has; then the approval expires and the job fails.
    timeout: 60 * 60_000,
  })
  async process(job: Job<PayoutJobData>): Promise<PayoutSent> {
    // A real app would call its bank here; a throw would be retried (the job's attempts) under the same approval.
    const sent: PayoutSent = { transferId: `tr_${randomUUID().slice(0, 8)}`, sentAt: new Date().toISOString() };
    this.logger.log(`Payout job ${job.id} sent ${formatMoney(job.data.amount, job.data.currency)} to ${job.data.destination} (transfer ${sent.transferId})`);
    return sent;
  }

  /** Every failed attempt: a refusal (denied, expired, changed data) ends the job; a run that threw is retried by its attempts. */
  @OnWorkerEvent('failed')
  onFailed(job: Job<PayoutJobData> | undefined, error: Error): void {
    this.logger.warn(`Payout job ${job?.id ?? '?'} not sent: ${error.message}`);
  }
}
