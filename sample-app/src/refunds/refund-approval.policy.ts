import { Injectable } from '@nestjs/common';
import type { ApprovalPolicy, ApprovalPolicyCall, ApprovalPolicyDecision } from 'nestjs-sesame';
import { formatMoney } from '../money.js';
import type { CreateRefundDto } from './create-refund.dto.js';
import { PaymentsLedger } from './payments.ledger.js';
import { REFUND_ACTION } from './refund-approval.js';
import { RefundLimits } from './refund-limits.js';

/**
 * Decides, before anyone is asked, which refunds need a human: small ones run at once, those above
 * the limit are refused, the rest wait for an approval. SesameModule's `policy`: it sees every gated
 * call of the app, so anything that is not a refund keeps asking a human.
 */
@Injectable()
export class RefundApprovalPolicy implements ApprovalPolicy {
  constructor(
    private readonly limits: RefundLimits,
    private readonly ledger: PaymentsLedger,
  ) {}

  evaluate({ action, args }: ApprovalPolicyCall): ApprovalPolicyDecision {
    if (action !== REFUND_ACTION) return 'ask';
    // Validated by then: the ValidationPipe, then RefundablePaymentPipe (the payment exists, in this currency, with enough left).
    const [refund] = args as [CreateRefundDto];
    if (refund.amount > this.limits.maxRefund) {
      return { deny: `Refunds above ${formatMoney(this.limits.maxRefund, refund.currency)} are not made through this API` };
    }
    // Counted with what the payment already had refunded: a large refund split into small ones still reaches a human.
    const { refunded } = this.ledger.get(refund.paymentId);
    return refunded + refund.amount < this.limits.autoApproveBelow ? 'allow' : 'ask';
  }
}
