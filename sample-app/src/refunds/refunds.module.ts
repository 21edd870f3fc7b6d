import { Module, type DynamicModule } from '@nestjs/common';
import { PaymentsLedger } from './payments.ledger.js';
import { RefundApprovalPolicy } from './refund-approval.policy.js';
import { RefundLimits } from './refund-limits.js';
import { RefundablePaymentPipe } from './refundable-payment.pipe.js';
import { RefundsController } from './refunds.controller.js';
import { RefundsResolver } from './refunds.resolver.js';

@Module({})
export class RefundsModule {
  static register(limits: RefundLimits): DynamicModule {
    return {
      module: RefundsModule,
      controllers: [RefundsController],
      // RefundApprovalPolicy is a provider here, so SesameModule's `policy` uses this instance, with this module's ledger.
      providers: [PaymentsLedger, RefundablePaymentPipe, RefundsResolver, RefundApprovalPolicy, { provide: RefundLimits, useValue: limits }],
      exports: [RefundLimits],
    };
  }
}
