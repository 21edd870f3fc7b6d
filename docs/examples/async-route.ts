// README: "Deploying: proxies, restarts and replicas". Type-checked by `npm test`.
import { Body, Controller, Post } from '@nestjs/common';
import { RequireApproval } from 'nestjs-sesame';

@Controller('refunds')
export class RefundsController {
  constructor(private readonly payments: PaymentsService) {}

  @Post()
  @RequireApproval('payments.refund', {
    mode: 'async',
    summary: (dto: RefundDto) => `Refund $${(dto.amount / 100).toFixed(2)} to ${dto.customerId}`,
    expiresIn: 15 * 60_000, // the human decides AND the client comes back within 15 minutes
  })
  refund(@Body() dto: RefundDto) {
    return this.payments.refund(dto);
  }
}

import { PaymentsService, RefundDto } from './support.js';
