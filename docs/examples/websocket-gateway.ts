// README: "WebSocket gateways". Type-checked by `npm test`.
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { RequireApproval } from 'nestjs-sesame';
import { PaymentsService, RefundDto } from './support.js';

@WebSocketGateway()
export class RefundsGateway {
  constructor(private readonly payments: PaymentsService) {}

  @SubscribeMessage('refund')
  @RequireApproval('payments.refund', { summary: (dto: RefundDto) => `Refund ${dto.amount} to ${dto.customerId}` })
  async refund(@MessageBody() dto: RefundDto) {
    return { event: 'refunded', data: await this.payments.refund(dto) };
  }
}
