// README: "Decision handlers". Type-checked by `npm test`.
import { Injectable } from '@nestjs/common';
import { OnApprovalDecision, SesameModule, type ApprovalDecisionPayload } from 'nestjs-sesame';
import { RefundExecutor } from './support.js';

SesameModule.forRoot({ webhookSecret: process.env.SESAME_WEBHOOK_SECRET, webhookPath: '/sesame/webhook' });

@Injectable()
export class RefundDecisions {
  constructor(private readonly refunds: RefundExecutor) {}

  @OnApprovalDecision('payments.refund') // or no argument: every decision
  async onRefund(decision: ApprovalDecisionPayload) {
    if (decision.status === 'approved') await this.refunds.execute(decision.approvalId);
  }
}
