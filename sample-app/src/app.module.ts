import { Module, type DynamicModule } from '@nestjs/common';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { GraphQLModule } from '@nestjs/graphql';
import { SesameModule } from 'nestjs-sesame';
import type { LocalBroker } from 'nestjs-sesame/testing';
import { CustomersModule } from './customers/customers.module.js';
import { embeddedBrokerConfig } from './embedded-broker.js';
import { GRAPHQL_PATH } from './graphql-path.js';
import { IndexController } from './index.controller.js';
import { PAYOUT_FLOW, type PayoutFlow } from './payout-flow.js';
import { PayoutsModule } from './payouts/payouts.module.js';
import { RefundApprovalPolicy } from './refunds/refund-approval.policy.js';
import type { RefundLimits } from './refunds/refund-limits.js';
import { RefundsModule } from './refunds/refunds.module.js';
import { sesameOptionsFrom } from './sesame-options.factory.js';
import { SESAME_WEBHOOK_PATH } from './webhook-path.js';

export interface AppModuleOptions {
  /** The broker started in-process when the environment names none. */
  embeddedBroker: LocalBroker | null;
  refundLimits: RefundLimits;
  /** The Redis for deferred payouts; undefined: payouts keep the webhook flow. */
  redisUrl: string | undefined;
  /** Where the app listens (the default PUBLIC_URL, which decision webhooks come back to). */
  apiUrl: string;
}

@Module({})
export class AppModule {
  static async register({ embeddedBroker, refundLimits, redisUrl, apiUrl }: AppModuleOptions): Promise<DynamicModule> {
    // Imported only with a Redis: bullmq and @nestjs/bullmq are not even loaded without one.
    const payouts = redisUrl === undefined ? PayoutsModule : (await import('./deferred-payouts/deferred-payouts.module.js')).DeferredPayoutsModule.register(redisUrl);
    const flow: PayoutFlow = redisUrl === undefined ? 'webhook' : 'deferred';
    const defaults = { PUBLIC_URL: apiUrl, ...(embeddedBroker && embeddedBrokerConfig(embeddedBroker)) };
    return {
      module: AppModule,
      imports: [
        // Environment variables win over `load`, and the embedded broker is only started when they name no broker.
        ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true, load: [() => defaults] }),
        SesameModule.forRootAsync({
          imports: [ConfigModule],
          inject: [ConfigService],
          useFactory: (config: ConfigService) => sesameOptionsFrom(config, redisUrl),
          isGlobal: true,
          // Mounts POST /sesame/webhook: verifies the signature on the raw body, then runs @OnApprovalDecision handlers.
          webhookPath: SESAME_WEBHOOK_PATH,
          // Decides before any human is asked: small refunds run at once, huge ones are refused (RefundsModule provides it).
          policy: RefundApprovalPolicy,
        }),
        // Code first, schema kept in memory. The gate needs nothing more: it reads the request from GraphQL's context.req.
        GraphQLModule.forRoot<ApolloDriverConfig>({
          driver: ApolloDriver,
          autoSchemaFile: true,
          path: GRAPHQL_PATH,
          // No stack traces in error answers (Apollo adds them unless NODE_ENV=production): clients get the message and extensions.
          includeStacktraceInErrorResponses: false,
          // Apollo drains the whole HTTP server when it stops (up to 10 s). Stopping it last lets SesameModule first end
          // the waits for a decision (503 / APPROVAL_UNAVAILABLE), instead of requests waiting on a human holding shutdown.
          stopOnApplicationShutdown: true,
        }),
        RefundsModule.register(refundLimits),
        CustomersModule,
        payouts,
      ],
      controllers: [IndexController],
      providers: [{ provide: PAYOUT_FLOW, useValue: flow }],
    };
  }
}
