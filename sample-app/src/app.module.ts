import { Module, type DynamicModule } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { SesameModule } from 'nestjs-sesame';
import type { LocalBroker } from 'nestjs-sesame/testing';
import { CustomersModule } from './customers/customers.module.js';
import { embeddedBrokerConfig } from './embedded-broker.js';
import { IndexController } from './index.controller.js';
import { PayoutsModule } from './payouts/payouts.module.js';
import { RefundsModule } from './refunds/refunds.module.js';
import { sesameOptionsFrom } from './sesame-options.factory.js';
import { SESAME_WEBHOOK_PATH } from './webhook-path.js';

@Module({})
export class AppModule {
  /** `embeddedBroker`: the broker started in-process when the environment names none. */
  static register(embeddedBroker: LocalBroker | null): DynamicModule {
    return {
      module: AppModule,
      imports: [
        // Environment variables win over `load`, and the embedded broker is only started when they name no broker.
        ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true, load: embeddedBroker ? [() => embeddedBrokerConfig(embeddedBroker)] : [] }),
        SesameModule.forRootAsync({
          imports: [ConfigModule],
          inject: [ConfigService],
          useFactory: sesameOptionsFrom,
          isGlobal: true,
          // Mounts POST /sesame/webhook: verifies the signature on the raw body, then runs @OnApprovalDecision handlers.
          webhookPath: SESAME_WEBHOOK_PATH,
        }),
        RefundsModule,
        CustomersModule,
        PayoutsModule,
      ],
      controllers: [IndexController],
    };
  }
}
