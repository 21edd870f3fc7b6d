import { Body, Controller, Get, HttpCode, Param, Post, ServiceUnavailableException } from '@nestjs/common';
import { BrokerUnavailableError } from 'nestjs-sesame';
import { CreatePayoutDto } from './create-payout.dto.js';
import { PayoutsService, type Payout } from './payouts.service.js';

@Controller('payouts')
export class PayoutsController {
  constructor(private readonly payouts: PayoutsService) {}

  /** Answers 202 at once; GET /payouts/:id shows the outcome once a human decided. */
  @Post()
  @HttpCode(202)
  async create(@Body() dto: CreatePayoutDto): Promise<Payout> {
    try {
      return await this.payouts.request(dto);
    } catch (error) {
      if (error instanceof BrokerUnavailableError) throw new ServiceUnavailableException('The approval broker is unreachable; try again later');
      throw error;
    }
  }

  @Get()
  list(): Payout[] {
    return this.payouts.list();
  }

  @Get(':id')
  get(@Param('id') id: string): Payout {
    return this.payouts.get(id);
  }
}
