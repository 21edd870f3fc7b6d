import { Controller, Get } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { GRAPHQL_PATH } from './graphql-path.js';
import { RefundLimits } from './refunds/refund-limits.js';

/** `GET /`: what this API offers, for whoever opens it first. */
@Controller()
export class IndexController {
  constructor(
    private readonly config: ConfigService,
    private readonly refundLimits: RefundLimits,
  ) {}

  @Get()
  index() {
    return {
      name: 'nestjs-sesame sample: payments admin API',
      dashboard: this.config.get<string>('DASHBOARD_URL') ?? null,
      refundPolicy: this.refundLimits.describe(),
      routes: {
        'GET /payments': 'payments you can refund',
        'POST /refunds': 'refund a payment: decided by the refund policy, else waits for an approval (payments.refund)',
        [`POST ${GRAPHQL_PATH}`]: 'GraphQL: query payments; mutation refund, gated like POST /refunds',
        'GET /admin/customers': 'customers',
        'POST /admin/customers/bulk-delete': 'delete customers: the service method waits for an approval (customers.bulk-delete)',
        'POST /payouts': 'request a payout: answers 202 at once, released when the decision webhook arrives (payouts.release)',
        'GET /payouts/:id': 'a payout and its status',
      },
    };
  }
}
