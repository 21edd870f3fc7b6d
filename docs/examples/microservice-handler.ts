// README: "Microservices". Type-checked by `npm test`.
import { Controller } from '@nestjs/common';
import { ClientProxy, EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { RequireApproval, type ApprovalRpcError } from 'nestjs-sesame';
import { PaymentsService, RefundDto } from './support.js';

declare const client: ClientProxy;
declare const dto: RefundDto;

@Controller()
export class RefundsHandler {
  constructor(private readonly payments: PaymentsService) {}

  @MessagePattern('payments.refund')
  @RequireApproval('payments.refund', { summary: (dto: RefundDto) => `Refund ${dto.amount} to ${dto.customerId}` })
  refund(@Payload() dto: RefundDto) {
    return this.payments.refund(dto);
  }

  @EventPattern('accounts.close-requested')
  @RequireApproval('accounts.close')
  async close(@Payload() accountId: string) {
    // runs only if approved; a refusal is logged, nothing runs
  }
}

// The caller:
try {
  await firstValueFrom(client.send('payments.refund', dto));
} catch (error) {
  const { code, approvalId } = error as ApprovalRpcError; // 'approval_denied', 'approval_timeout', ...
}
