import { Module, type BeforeApplicationShutdown, type DynamicModule, type Provider } from '@nestjs/common';
import { APP_FILTER, APP_INTERCEPTOR, DiscoveryModule } from '@nestjs/core';
import { ApprovalStoreHost } from '../approval-store/approval-store.host.js';
import { ApprovalStore } from '../approval-store/approval-store.interface.js';
import { SesameClient } from '../client/sesame-client.js';
import { ApprovalGate } from '../approval-gate/approval-gate.js';
import { ApprovalExceptionFilter } from '../approval-gate/approval-exception.filter.js';
import { ApprovalGateExplorer } from '../approval-gate/approval-gate.explorer.js';
import { ApprovalGateInterceptor } from '../approval-gate/approval-gate.interceptor.js';
import { APPROVAL_POLICY_CLASS, ApprovalPolicyHost } from '../approval-gate/approval-policy.host.js';
import { ApprovalRequestContext } from '../approval-gate/approval-request.context.js';
import { DeferredApprovals } from '../approval-gate/deferred/deferred-approvals.js';
import { APPROVAL_DECISION_LISTENER } from '../nest-webhooks/approval-decision.listener.js';
import { ApprovalDecisionDispatcher } from '../nest-webhooks/approval-decision.dispatcher.js';
import { DecisionHandlerExplorer } from '../nest-webhooks/decision-handler.explorer.js';
import { createSesameWebhookController } from '../nest-webhooks/sesame-webhook.controller.js';
import { SesameWebhookGuard } from '../nest-webhooks/sesame-webhook.guard.js';
import { SesameWebhookVerifier } from '../nest-webhooks/sesame-webhook.verifier.js';
import { ApprovalsService } from './approvals.service.js';
import { ApprovalTelemetry } from '../telemetry/approval-telemetry.js';
import { SesameConfig } from '../config/sesame.config.js';
import { resolveSesameConfig } from './resolve-sesame-config.js';
import { SESAME_MODULE_OPTIONS, SesameConfigurableModule } from './sesame.module-definition.js';
import { SesameConfigError } from '../errors.js';
import type { SesameModuleAsyncOptions, SesameModuleExtras, SesameModuleOptions } from './sesame-module.options.js';

// Stateful providers are built in factories, per app: two apps in one process share nothing.
const providers: Provider[] = [
  { provide: SesameConfig, useFactory: (options?: SesameModuleOptions) => resolveSesameConfig(options), inject: [SESAME_MODULE_OPTIONS] },
  { provide: SesameClient, useFactory: (config: SesameConfig) => new SesameClient(config.clientOptions), inject: [SesameConfig] },
  // After SesameConfig, so bad options are reported before any Redis connection is attempted.
  {
    provide: ApprovalStoreHost,
    useFactory: (options: SesameModuleOptions | undefined) => ApprovalStoreHost.create(options?.store),
    inject: [SESAME_MODULE_OPTIONS, SesameConfig],
  },
  { provide: ApprovalStore, useFactory: (host: ApprovalStoreHost) => host.store, inject: [ApprovalStoreHost] },
  ApprovalsService,
  ApprovalRequestContext,
  ApprovalPolicyHost,
  ApprovalGate,
  ApprovalGateExplorer,
  DeferredApprovals,
  // Spans and metrics, loaded at init only when an OpenTelemetry SDK is registered.
  ApprovalTelemetry,
  // Decision webhooks resume the deferred jobs they decide (the dispatcher cannot import the gate's floor).
  { provide: APPROVAL_DECISION_LISTENER, useExisting: DeferredApprovals },
  // Only runs when something threw: ungated routes pay nothing on success. Gated routes carry their own interceptor.
  { provide: APP_FILTER, useClass: ApprovalExceptionFilter },
  SesameWebhookVerifier,
  SesameWebhookGuard,
  DecisionHandlerExplorer,
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
  exports: [
    SesameClient,
    SesameConfig,
    ApprovalsService,
    ApprovalGate,
    ApprovalStore,
    SesameWebhookVerifier,
    SesameWebhookGuard,
    ApprovalDecisionDispatcher,
    ApprovalTelemetry,
  ],
})
export class SesameModule extends SesameConfigurableModule implements BeforeApplicationShutdown {
  constructor(private readonly client: SesameClient) {
    super();
  }

  static override forRoot(options: SesameModuleOptions & SesameModuleExtras = {}): DynamicModule {
    return withExtras(super.forRoot(options), options);
  }

  static override forRootAsync(options: SesameModuleAsyncOptions): DynamicModule {
    return withExtras(super.forRootAsync(options), options);
  }

  /**
   * Before Nest closes the HTTP server, which waits for open requests: ending the waits here lets gated
   * routes answer 503 at once instead of holding shutdown until their timeout.
   */
  beforeApplicationShutdown(): void {
    this.client.close();
  }
}

function withExtras(module: DynamicModule, { webhookPath, approvalGate, requestContext, policy }: SesameModuleExtras): DynamicModule {
  let result = module;
  if (requestContext !== undefined && requestContext !== 'gated-routes' && requestContext !== 'all-routes') {
    throw new SesameConfigError("SesameModule: requestContext must be 'gated-routes' (the default) or 'all-routes'");
  }
  if (requestContext === 'all-routes') {
    // Every request then runs in a scope, so gated service methods called from ungated routes can see it: a measured cost (BENCHMARKS.md).
    result = { ...result, providers: [...(result.providers ?? []), { provide: APP_INTERCEPTOR, useClass: ApprovalGateInterceptor }] };
  }
  if (webhookPath !== undefined) {
    result = { ...result, controllers: [...(result.controllers ?? []), createSesameWebhookController(webhookPath)] };
  }
  if (policy !== undefined) {
    if (typeof policy !== 'function' || typeof (policy.prototype as { evaluate?: unknown } | undefined)?.evaluate !== 'function') {
      throw new SesameConfigError('SesameModule: policy must be an injectable class implementing ApprovalPolicy (an evaluate(call) method)');
    }
    result = { ...result, providers: [...(result.providers ?? []), { provide: APPROVAL_POLICY_CLASS, useValue: policy }] };
  }
  if (approvalGate !== undefined) {
    if (typeof approvalGate !== 'function' || !(approvalGate.prototype instanceof ApprovalGate)) {
      throw new SesameConfigError('SesameModule: approvalGate must be a class that extends ApprovalGate');
    }
    // Dynamic providers are registered after the static ones: this one replaces the default gate.
    result = { ...result, providers: [...(result.providers ?? []), { provide: ApprovalGate, useClass: approvalGate }] };
  }
  return result;
}
