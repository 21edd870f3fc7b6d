import type { RequireApprovalOptions } from 'nestjs-sesame';
import { formatMoney } from '../money.js';
import type { CreateRefundDto } from './create-refund.dto.js';

/** The action of every refund gate (REST and GraphQL), and the one RefundApprovalPolicy decides. */
export const REFUND_ACTION = 'payments.refund';

/** What the approver reads, the same whichever API the refund came through. */
export const REFUND_APPROVAL: RequireApprovalOptions = {
  summary: (refund: CreateRefundDto) => `Refund ${formatMoney(refund.amount, refund.currency)} on payment ${refund.paymentId}`,
  reason: (refund: CreateRefundDto) => refund.reason,
  context: (refund: CreateRefundDto) => ({ paymentId: refund.paymentId, amount: refund.amount, currency: refund.currency }),
};
