// README: "Gate a route". Type-checked by `npm test`.
import { Body, Controller, Post } from '@nestjs/common';
import { RequireApproval } from 'nestjs-sesame';

@Controller('refunds')
export class RefundsController {
  constructor(private readonly payments: PaymentsService) {}

  @Post()
  @RequireApproval('payments.refund', {
    summary: (dto: RefundDto) => `Refund $${(dto.amount / 100).toFixed(2)} to ${dto.customerId}`,
    context: (dto: RefundDto) => ({ customerId: dto.customerId, amount: dto.amount }),
    timeout: 120_000,
  })
  refund(@Body() dto: RefundDto) {
    return this.payments.refund(dto);
  }
}

import { PaymentsService, RefundDto } from './support.js';
