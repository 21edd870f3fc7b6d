// README: "When a human is needed: when and policies". Type-checked by `npm test`.
import { Body, Controller, Injectable, Module, Post } from '@nestjs/common';
import { RequireApproval, SesameModule, type ApprovalPolicy, type ApprovalPolicyCall, type ApprovalPolicyDecision } from 'nestjs-sesame';
import { PaymentsService, RefundDto } from './support.js';

@Controller('refunds')
export class RefundsController {
  constructor(private readonly payments: PaymentsService) {}

  @Post()
  @RequireApproval('payments.refund', {
    // Refunds under $50 run at once; the rest wait for a human.
    when: (dto: RefundDto) => dto.amount >= 5_000,
    summary: (dto: RefundDto) => `Refund $${(dto.amount / 100).toFixed(2)} to ${dto.customerId}`,
  })
  refund(@Body() dto: RefundDto) {
    return this.payments.refund(dto);
  }
}

@Injectable()
export class LimitsService {
  async dailyTotal(customerId: string): Promise<number> {
    return customerId.length; // your repository here
  }
}

@Injectable()
export class RefundPolicy implements ApprovalPolicy {
  constructor(private readonly limits: LimitsService) {}

  async evaluate(call: ApprovalPolicyCall): Promise<ApprovalPolicyDecision> {
    if (call.action !== 'payments.refund') return 'ask';
    const [dto] = call.args as [RefundDto];
    if ((await this.limits.dailyTotal(dto.customerId)) + dto.amount > 1_000_000) return { deny: 'over the daily refund limit' };
    return dto.amount < 1_000 ? 'allow' : 'ask';
  }
}

@Module({
  imports: [SesameModule.forRoot({ isGlobal: true, policy: RefundPolicy })],
  controllers: [RefundsController],
  providers: [PaymentsService, LimitsService, RefundPolicy],
})
export class AppModule {}
