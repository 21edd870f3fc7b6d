import { Injectable, Logger, NotFoundException } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { randomUUID } from 'node:crypto';
import { ApprovalsService, OnApprovalDecision, type ApprovalDecisionPayload } from 'nestjs-sesame';
import { SESAME_WEBHOOK_PATH } from '../webhook-path.js';
import type { CreatePayoutDto } from './create-payout.dto.js';
import { payoutSummary } from './payout-summary.js';

export type PayoutStatus = 'awaiting_approval' | 'released' | 'rejected' | 'expired';

export interface Payout {
  id: string;
  amount: number;
  currency: string;
  destination: string;
  status: PayoutStatus;
  approvalId: string | null;
  createdAt: string;
  decidedAt: string | null;
}

const RESULT: Record<ApprovalDecisionPayload['status'], PayoutStatus> = { approved: 'released', denied: 'rejected', expired: 'expired' };

/**
 * The non-blocking flow without Redis: a payout is requested, the API answers 202 at once, and the
 * payout is released later, when the broker's signed decision webhook reaches SesameModule's endpoint
 * and runs onPayoutDecision(). Nothing waits on an open HTTP request. With Redis, the sample runs
 * payouts as deferred BullMQ jobs instead (deferred-payouts/).
 */
@Injectable()
export class PayoutsService {
  private readonly logger = new Logger('Payouts');
  private readonly payouts = new Map<string, Payout>();

  constructor(
    private readonly approvals: ApprovalsService,
    private readonly config: ConfigService,
  ) {}

  async request(dto: CreatePayoutDto): Promise<Payout> {
    const payout: Payout = {
      id: `po_${randomUUID().slice(0, 8)}`,
      amount: dto.amount,
      currency: dto.currency,
      destination: dto.destination,
      status: 'awaiting_approval',
      approvalId: null,
      createdAt: new Date().toISOString(),
      decidedAt: null,
    };
    // Stored before the trigger: the decision webhook may arrive before trigger() returns.
    this.payouts.set(payout.id, payout);
    try {
      const approval = await this.approvals.trigger({
        action: 'payouts.release',
        summary: payoutSummary(dto),
        reason: 'Merchant payout requested through the API',
        context: { payoutId: payout.id, amount: dto.amount, currency: dto.currency, destination: dto.destination },
        // The webhook's dedup_key names the payout it is about.
        dedupKey: payout.id,
        callbackUrl: new URL(SESAME_WEBHOOK_PATH, this.config.getOrThrow<string>('PUBLIC_URL')).toString(),
        expiresIn: 60 * 60_000,
      });
      payout.approvalId = approval.id;
      this.logger.log(`Payout ${payout.id} awaits approval ${approval.id}`);
    } catch (error) {
      this.payouts.delete(payout.id);
      throw error;
    }
    return { ...payout };
  }

  get(id: string): Payout {
    const payout = this.payouts.get(id);
    if (!payout) throw new NotFoundException(`Payout ${id} not found`);
    return { ...payout };
  }

  list(): Payout[] {
    return [...this.payouts.values()].map((p) => ({ ...p }));
  }

  /** Runs once the webhook is verified. Idempotent: the broker may deliver the same decision twice. */
  @OnApprovalDecision('payouts.release')
  onPayoutDecision(decision: ApprovalDecisionPayload): void {
    const payout = decision.dedupKey === null ? undefined : this.payouts.get(decision.dedupKey);
    if (!payout) {
      // Not ours (or from before a restart): acknowledge, so the broker does not redeliver forever.
      this.logger.warn(`Decision for unknown payout (approval ${decision.approvalId}) ignored`);
      return;
    }
    if (payout.status !== 'awaiting_approval') return;
    payout.status = RESULT[decision.status];
    payout.approvalId ??= decision.approvalId;
    payout.decidedAt = decision.decidedAt.toISOString();
    this.logger.log(`Payout ${payout.id} ${payout.status} (approval ${decision.approvalId} ${decision.status})`);
  }
}
