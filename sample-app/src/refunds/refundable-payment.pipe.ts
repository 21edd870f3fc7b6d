import { Injectable, UnprocessableEntityException, type PipeTransform } from '@nestjs/common';
import type { CreateRefundDto } from './create-refund.dto.js';
import { PaymentsLedger } from './payments.ledger.js';

/**
 * Refuses a refund the ledger could never pay (unknown payment, wrong currency, too much) before
 * anyone is asked to approve it: @RequireApproval runs only after guards and pipes accepted the request.
 */
@Injectable()
export class RefundablePaymentPipe implements PipeTransform<CreateRefundDto, CreateRefundDto> {
  constructor(private readonly ledger: PaymentsLedger) {}

  transform(dto: CreateRefundDto): CreateRefundDto {
    const payment = this.ledger.get(dto.paymentId);
    if (dto.currency !== payment.currency) {
      throw new UnprocessableEntityException(`Payment ${payment.id} was made in ${payment.currency}, not ${dto.currency}`);
    }
    const left = this.ledger.refundable(payment.id);
    if (dto.amount > left) {
      throw new UnprocessableEntityException(`At most ${left} ${payment.currency} minor units can still be refunded on ${payment.id}`);
    }
    return dto;
  }
}
