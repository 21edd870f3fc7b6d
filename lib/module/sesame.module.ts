import { Module, type DynamicModule, type OnApplicationShutdown, type Provider } from '@nestjs/common';
import { APP_INTERCEPTOR, DiscoveryModule } from '@nestjs/core';
import { SesameClient } from '../client/sesame-client.js';
import { ApprovalGate } from '../approval-gate/approval-gate.js';
import { ApprovalGateExplorer } from '../approval-gate/approval-gate.explorer.js';
import { ApprovalGateInterceptor } from '../approval-gate/approval-gate.interceptor.js';
import { ApprovalRequestContext } from '../approval-gate/approval-request.context.js';
import { ApprovalDecisionDispatcher } from '../nest-webhooks/approval-decision.dispatcher.js';
import { createSesameWebhookController } from '../nest-webhooks/sesame-webhook.controller.js';
import { SesameWebhookGuard } from '../nest-webhooks/sesame-webhook.guard.js';
import { SesameWebhookVerifier } from '../nest-webhooks/sesame-webhook.verifier.js';
import { ApprovalsService } from './approvals.service.js';
import { resolveSesameConfig, SesameConfig } from './sesame.config.js';
import {
  SESAME_ASYNC_OPTIONS_TYPE,
  SESAME_MODULE_OPTIONS,
  SESAME_OPTIONS_TYPE,
  SesameConfigurableModule,
} from './sesame.module-definition.js';
import type { SesameModuleOptions } from './sesame-module.options.js';

// Stateful providers are built in factories, per app: two apps in one process share nothing.
const providers: Provider[] = [
  { provide: SesameConfig, useFactory: (options?: SesameModuleOptions) => resolveSesameConfig(options), inject: [SESAME_MODULE_OPTIONS] },
  { provide: SesameClient, useFactory: (config: SesameConfig) => new SesameClient(config.clientOptions), inject: [SesameConfig] },
  ApprovalsService,
  ApprovalRequestContext,
  ApprovalGate,
  ApprovalGateExplorer,
  { provide: APP_INTERCEPTOR, useClass: ApprovalGateInterceptor },
  SesameWebhookVerifier,
  SesameWebhookGuard,
  ApprovalDecisionDispatcher,
];

/**
 * The Sesame approval gate for NestJS.
 *
 *   SesameModule.forRoot({ apiKey, webhookSecret, isGlobal: true, webhookPath: '/sesame/webhook' })
 *   SesameModule.forRootAsync({ imports: [ConfigModule], inject: [ConfigService], useFactory: (c) => ({ ... }) })
 */
@Module({
  imports: [DiscoveryModule],
  providers,
  exports: [SesameClient, SesameConfig, ApprovalsService, ApprovalGate, SesameWebhookVerifier, SesameWebhookGuard, ApprovalDecisionDispatcher],
})
export class SesameModule extends SesameConfigurableModule implements OnApplicationShutdown {
  constructor(private readonly client: SesameClient) {
    super();
  }

  static override forRoot(options: typeof SESAME_OPTIONS_TYPE = {}): DynamicModule {
    return withWebhookEndpoint(super.forRoot(options), options.webhookPath);
  }

  static override forRootAsync(options: typeof SESAME_ASYNC_OPTIONS_TYPE): DynamicModule {
    return withWebhookEndpoint(super.forRootAsync(options), options.webhookPath);
  }

  onApplicationShutdown(): void {
    this.client.close();
  }
}

function withWebhookEndpoint(module: DynamicModule, webhookPath: string | undefined): DynamicModule {
  if (webhookPath === undefined) return module;
  return { ...module, controllers: [...(module.controllers ?? []), createSesameWebhookController(webhookPath)] };
}
