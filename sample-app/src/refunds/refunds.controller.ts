import { Body, Controller, Get, Param, Post } from '@nestjs/common';
import { RequireApproval } from 'nestjs-sesame';
import { CreateRefundDto } from './create-refund.dto.js';
import { PaymentsLedger, type Payment, type Refund } from './payments.ledger.js';
import { REFUND_ACTION, REFUND_APPROVAL } from './refund-approval.js';
import { RefundablePaymentPipe } from './refundable-payment.pipe.js';

@Controller()
export class RefundsController {
  constructor(private readonly ledger: PaymentsLedger) {}

  @Get('payments')
  payments(): Payment[] {
    return this.ledger.list();
  }

  @Get('payments/:id')
  payment(@Param('id') id: string): Payment {
    return this.ledger.get(id);
  }

  /**
   * RefundApprovalPolicy decides first: a small refund runs at once (201), one over the limit is refused
   * (403 approval_policy_denied). Otherwise the request waits here until a human decides: approved -> 201
   * with the refund; denied or expired -> 403; nobody decided within the module's defaultTimeout -> 504.
   * The handler body runs only if the policy or a human allowed it.
   */
  @Post('refunds')
  @RequireApproval(REFUND_ACTION, REFUND_APPROVAL)
  refund(@Body(RefundablePaymentPipe) dto: CreateRefundDto): Refund {
    return this.ledger.refund(dto.paymentId, dto.amount, dto.reason);
  }
}
