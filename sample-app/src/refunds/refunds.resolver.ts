import { Args, Mutation, Query, Resolver } from '@nestjs/graphql';
import { RequireApproval } from 'nestjs-sesame';
import { CreateRefundDto } from './create-refund.dto.js';
import { PaymentsLedger, type Payment, type Refund } from './payments.ledger.js';
import { REFUND_ACTION, REFUND_APPROVAL } from './refund-approval.js';
import { RefundablePaymentPipe } from './refundable-payment.pipe.js';
import { PaymentModel, RefundModel } from './refund.models.js';

/** POST /graphql: the REST refund routes again, with the same ledger, validation, gate and policy. */
@Resolver()
export class RefundsResolver {
  constructor(private readonly ledger: PaymentsLedger) {}

  @Query(() => [PaymentModel], { description: 'Payments you can refund' })
  payments(): Payment[] {
    return this.ledger.list();
  }

  /**
   * Decided like POST /refunds: the policy first (small: runs at once; over the limit: an
   * APPROVAL_POLICY_DENIED error), else the request waits for a human. Denied or expired -> an
   * APPROVAL_DENIED error; the resolver body runs only if approved.
   */
  @Mutation(() => RefundModel, { description: 'Refund a payment: small refunds run at once, larger ones wait for an approval (payments.refund)' })
  @RequireApproval(REFUND_ACTION, REFUND_APPROVAL)
  refund(@Args(RefundablePaymentPipe) refund: CreateRefundDto): Refund {
    return this.ledger.refund(refund.paymentId, refund.amount, refund.reason);
  }
}
