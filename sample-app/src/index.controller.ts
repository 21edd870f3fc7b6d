import { Controller, Get, Inject } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { GRAPHQL_PATH } from './graphql-path.js';
import { PAYOUT_FLOW, type PayoutFlow } from './payout-flow.js';
import { RefundLimits } from './refunds/refund-limits.js';

/** `GET /`: what this API offers, for whoever opens it first. */
@Controller()
export class IndexController {
  constructor(
    private readonly config: ConfigService,
    private readonly refundLimits: RefundLimits,
    @Inject(PAYOUT_FLOW) private readonly payoutFlow: PayoutFlow,
  ) {}

  @Get()
  index() {
    return {
      name: 'nestjs-sesame sample: payments admin API',
      dashboard: this.config.get<string>('DASHBOARD_URL') ?? null,
      refundPolicy: this.refundLimits.describe(),
      payouts: this.payoutFlow,
      routes: {
        'GET /payments': 'payments you can refund',
        'POST /refunds': 'refund a payment: decided by the refund policy, else waits for an approval (payments.refund)',
        [`POST ${GRAPHQL_PATH}`]: 'GraphQL: query payments; mutation refund, gated like POST /refunds',
        'GET /admin/customers': 'customers',
        'POST /admin/customers/bulk-delete': 'delete customers: the service method waits for an approval (customers.bulk-delete)',
        ...(this.payoutFlow === 'deferred'
          ? {
              'POST /payouts': 'request a payout: queued as a BullMQ job (202 with its id), sent once approved (payouts.send)',
              'GET /payouts/:jobId': "a payout job: its state and its approval's id",
            }
          : {
              'POST /payouts': 'request a payout: answers 202 at once, released when the decision webhook arrives (payouts.release)',
              'GET /payouts/:id': 'a payout and its status',
            }),
      },
    };
  }
}
