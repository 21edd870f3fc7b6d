export * from './errors.js';
export { SESAME_PACKAGE_VERSION } from './version.js';

export { SesameClient } from './client/sesame-client.js';
export { DEFAULT_BROKER_URL, type SesameClientOptions } from './client/sesame-client.options.js';
export type { RetryOptions } from './client/retry-policy.js';
export { Approval } from './client/approval.js';
export type { ApprovalsResource } from './client/approvals.resource.js';
export type {
  ApprovalContext,
  ApprovalData,
  ApprovalStatus,
  TriggerApprovalInput,
  WaitOptions,
} from './client/approval.types.js';

export { signWebhook, generateWebhookSecret, type SignedWebhookHeaders, type SignWebhookOptions } from './webhooks/sign-webhook.js';
export type { ApprovalDecisionPayload, WireWebhookPayload } from './webhooks/webhook-payload.js';
export { verifyWebhook, DEFAULT_WEBHOOK_TOLERANCE_MS, type VerifyWebhookOptions } from './webhooks/verify-webhook.js';
export { WebhookVerifier, type WebhookVerifierOptions, type WebhookVerifyOptions } from './webhooks/webhook-verifier.js';
export {
  readWebhookHeaders,
  WEBHOOK_ID_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
  type WebhookHeadersInput,
  type WebhookHeaderValues,
} from './webhooks/webhook-headers.js';

export { SesameModule } from './module/sesame.module.js';
export { SESAME_MODULE_OPTIONS } from './module/sesame.module-definition.js';
export type { SesameModuleExtras, SesameModuleOptions } from './module/sesame-module.options.js';
export { SesameConfig } from './config/sesame.config.js';
export { ApprovalsService } from './module/approvals.service.js';

export { RequireApproval, SkipApproval } from './approval-gate/require-approval.decorator.js';
export {
  REQUIRE_APPROVAL_METADATA,
  SKIP_APPROVAL_METADATA,
  type ApprovalMode,
  type RequireApprovalMetadata,
  type RequireApprovalOptions,
  type Resolvable,
} from './approval-gate/require-approval.options.js';
export { ApprovalGate } from './approval-gate/approval-gate.js';
export { ApprovalGateInterceptor } from './approval-gate/approval-gate.interceptor.js';
export { ApprovalRequestContext, HttpApprovalScope, type ApprovalHttpRequest } from './approval-gate/approval-request.context.js';
export {
  ApprovalAlreadyUsedError,
  ApprovalBindingError,
  ApprovalCapacityError,
  ApprovalInUseError,
  ApprovalMismatchError,
  ApprovalPending,
  AsyncApprovalContextError,
  InvalidApprovalIdHeaderError,
  type ApprovalMismatchCode,
} from './approval-gate/approval-gate.errors.js';
export { ApprovalPendingException } from './approval-gate/approval-pending.exception.js';
export { SESAME_APPROVAL_ID_HEADER } from './approval-gate/approval-id.header.js';

export { ApprovalStore, type ClaimOutcome } from './approval-store/approval-store.interface.js';
export { ApprovalStoreUnavailableError } from './approval-store/approval-store.errors.js';
export { InMemoryApprovalStore, type InMemoryApprovalStoreOptions } from './approval-store/in-memory-approval.store.js';
export {
  RedisApprovalStore,
  type RedisApprovalStoreConnectOptions,
  type RedisApprovalStoreOptions,
} from './approval-store/redis-approval.store.js';
export type { RedisClientLike, RedisConnectionEvent, RedisConnectionOptions, RedisConnectionView } from './approval-store/redis-client.like.js';
export type { ApprovalStoreOption } from './approval-store/approval-store.factory.js';
export { bindApprovalGate, type ApprovalGateRunner, type GatedCall } from './approval-gate/gated-method.js';

export { SesameWebhookVerifier } from './nest-webhooks/sesame-webhook.verifier.js';
export { SesameWebhookGuard, SESAME_WEBHOOK_PAYLOAD, type SesameWebhookRequest } from './nest-webhooks/sesame-webhook.guard.js';
export { SesameWebhookPayload } from './nest-webhooks/sesame-webhook-payload.decorator.js';
export { OnApprovalDecision, ON_APPROVAL_DECISION_METADATA, type OnApprovalDecisionMetadata } from './nest-webhooks/on-approval-decision.decorator.js';
export {
  ApprovalDecisionDispatcher,
  type WebhookDispatchResult,
} from './nest-webhooks/approval-decision.dispatcher.js';
export { createSesameWebhookController } from './nest-webhooks/sesame-webhook.controller.js';
