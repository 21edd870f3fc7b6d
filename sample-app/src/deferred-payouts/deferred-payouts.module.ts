import { Module, type DynamicModule } from '@nestjs/common';
import { BullModule } from '@nestjs/bullmq';
import { DeferredPayoutsController } from './deferred-payouts.controller.js';
import { PAYOUT_QUEUE } from './payout-job.js';
import { PayoutsProcessor } from './payouts.processor.js';

/**
 * Payouts as deferred BullMQ jobs, when the sample has a Redis. The root module imports this file
 * only then, so without Redis neither bullmq nor @nestjs/bullmq is loaded.
 */
@Module({})
export class DeferredPayoutsModule {
  static register(redisUrl: string): DynamicModule {
    return {
      module: DeferredPayoutsModule,
      imports: [
        // Its own key prefix, so the sample shares a Redis (SESAME_SAMPLE_REDIS_URL) with other apps' queues without mixing them.
        BullModule.forRoot({ connection: { url: redisUrl }, prefix: 'sesame-sample' }),
        BullModule.registerQueue({ name: PAYOUT_QUEUE }),
      ],
      controllers: [DeferredPayoutsController],
      providers: [PayoutsProcessor],
    };
  }
}
