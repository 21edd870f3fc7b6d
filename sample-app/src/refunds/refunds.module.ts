import { Module } from '@nestjs/common';
import { PaymentsLedger } from './payments.ledger.js';
import { RefundablePaymentPipe } from './refundable-payment.pipe.js';
import { RefundsController } from './refunds.controller.js';

@Module({
  controllers: [RefundsController],
  providers: [PaymentsLedger, RefundablePaymentPipe],
})
export class RefundsModule {}
