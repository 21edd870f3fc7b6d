import { Controller, Get } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';

/** `GET /`: what this API offers, for whoever opens it first. */
@Controller()
export class IndexController {
  constructor(private readonly config: ConfigService) {}

  @Get()
  index() {
    return {
      name: 'nestjs-sesame sample: payments admin API',
      dashboard: this.config.get<string>('DASHBOARD_URL') ?? null,
      routes: {
        'GET /payments': 'payments you can refund',
        'POST /refunds': 'refund a payment: waits for an approval (payments.refund)',
        'GET /admin/customers': 'customers',
        'POST /admin/customers/bulk-delete': 'delete customers: the service method waits for an approval (customers.bulk-delete)',
        'POST /payouts': 'request a payout: answers 202 at once, released when the decision webhook arrives (payouts.release)',
        'GET /payouts/:id': 'a payout and its status',
      },
    };
  }
}
