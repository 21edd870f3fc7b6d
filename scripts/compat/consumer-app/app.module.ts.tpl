import { Body, Controller, HttpCode, Injectable, Module, Post, UseGuards, type DynamicModule } from '@nestjs/common';
import { RequireApproval, SesameModule, SesameWebhookGuard, SesameWebhookPayload, type ApprovalDecisionPayload } from 'nestjs-sesame';

export interface RefundRequest {
  amount: number;
  customerId: string;
}

/** What the handlers did. Injected by type only, so resolving it needs the compiler's decorator metadata. */
@Injectable()
export class Ledger {
  readonly refunds: RefundRequest[] = [];
  readonly decisions: ApprovalDecisionPayload[] = [];
}

@Controller('refunds')
export class RefundsController {
  constructor(private readonly ledger: Ledger) {}

  @Post()
  @RequireApproval('payments.refund', {
    summary: (dto: RefundRequest) => `Refund ${dto.amount} to ${dto.customerId}`,
    context: (dto: RefundRequest) => ({ customerId: dto.customerId, amount: dto.amount }),
    timeout: 10_000,
  })
  refund(@Body() dto: RefundRequest) {
    this.ledger.refunds.push(dto);
    return { refunded: dto.amount };
  }
}

@Controller('hooks')
export class HooksController {
  constructor(private readonly ledger: Ledger) {}

  @Post('sesame')
  @HttpCode(200)
  @UseGuards(SesameWebhookGuard)
  receive(@SesameWebhookPayload() decision: ApprovalDecisionPayload) {
    this.ledger.decisions.push(decision);
    return { received: decision.approvalId };
  }
}

export interface BrokerConnection {
  apiKey: string;
  baseUrl: string;
  webhookSecret: string[];
}

@Module({})
export class AppModule {
  static forBroker(broker: BrokerConnection): DynamicModule {
    return {
      module: AppModule,
      imports: [SesameModule.forRoot({ ...broker, env: {} })],
      controllers: [RefundsController, HooksController],
      providers: [Ledger],
    };
  }
}
