import { Body, Controller, Get, Param, Post } from '@nestjs/common';
import { RequireApproval } from 'nestjs-sesame';
import { formatMoney } from '../money.js';
import { CreateRefundDto } from './create-refund.dto.js';
import { PaymentsLedger, type Payment, type Refund } from './payments.ledger.js';
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
   * The request waits here until a human decides: approved -> 201 with the refund; denied or expired
   * -> 403; nobody decided within the module's defaultTimeout -> 504. The handler body runs only if approved.
   */
  @Post('refunds')
  @RequireApproval('payments.refund', {
    summary: (dto: CreateRefundDto) => `Refund ${formatMoney(dto.amount, dto.currency)} on payment ${dto.paymentId}`,
    reason: (dto: CreateRefundDto) => dto.reason,
    context: (dto: CreateRefundDto) => ({ paymentId: dto.paymentId, amount: dto.amount, currency: dto.currency }),
  })
  refund(@Body(RefundablePaymentPipe) dto: CreateRefundDto): Refund {
    return this.ledger.refund(dto.paymentId, dto.amount, dto.reason);
  }
}
