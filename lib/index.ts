/**
 * `nestjs-sesame`: what an app writes. The module and its options, the service, the decorators, the
 * webhook guard, the client, the errors, the webhook functions and the store interface. Plumbing
 * (metadata keys, option tokens, the request context, factories) stays inside; the recorded API is
 * `etc/nestjs-sesame.api.md` (`npm run api:check`).
 */

// The module, its options and the service.
export { SesameModule } from './module/sesame.module.js';
export type { SesameModuleAsyncOptions, SesameModuleExtras, SesameModuleOptions } from './module/sesame-module.options.js';
export { ApprovalsService } from './module/approvals.service.js';

// Gating: the decorators, their options, and the gate to subclass (SesameModule's `approvalGate`).
export { RequireApproval, SkipApproval } from './approval-gate/require-approval.decorator.js';
export type { ApprovalMode, RequireApprovalMetadata, RequireApprovalOptions, Resolvable } from './approval-gate/require-approval.options.js';
export { ApprovalGate } from './approval-gate/approval-gate.js';
export type { DeferredApprovals, DeferredResume } from './approval-gate/deferred/deferred-approvals.js';
export type { DeferredApprovalProgress } from './approval-gate/deferred/deferred-job.js';
export type { ApprovalTelemetry } from './telemetry/approval-telemetry.js';
export type { GatedCall } from './approval-gate/gated-method.js';
export type { ApprovalHttpRequest, ApprovalTransport } from './approval-gate/approval-scope.js';
export type { ApprovalPolicy, ApprovalPolicyCall, ApprovalPolicyDecision } from './approval-gate/approval-policy.js';
export { ApprovalPolicyHost } from './approval-gate/approval-policy.host.js';
export { ApprovalExceptionFilter } from './approval-gate/approval-exception.filter.js';
export { ApprovalGraphQLError } from './approval-gate/transports/graphql.transport.js';
export type { ApprovalRpcError } from './approval-gate/transports/rpc.transport.js';
export type { ApprovalWsError } from './approval-gate/transports/ws.transport.js';
export { SESAME_APPROVAL_ID_HEADER } from './approval-gate/approval-id.header.js';

// Decision webhooks in Nest.
export { SesameWebhookGuard, type SesameWebhookRequest } from './nest-webhooks/sesame-webhook.guard.js';
export { SesameWebhookPayload } from './nest-webhooks/sesame-webhook-payload.decorator.js';
export { OnApprovalDecision } from './nest-webhooks/on-approval-decision.decorator.js';
export { ApprovalDecisionDispatcher, type WebhookDispatchResult } from './nest-webhooks/approval-decision.dispatcher.js';
export type { ApprovalDecisionListener } from './nest-webhooks/approval-decision.listener.js';

// Health checks with @nestjs/terminus (loaded only when the indicator starts).
export { SesameHealthIndicator, type SesameHealthCheckOptions, type SesameHealthResult } from './health/sesame-health.indicator.js';

// The client.
export { SesameClient } from './client/sesame-client.js';
export type { SesameClientOptions } from './client/sesame-client.options.js';
export type { RetryOptions } from './client/retry-policy.js';
export type { AxiosLikeClient, HttpServiceLike, SesameAxiosRequestConfig, SesameAxiosResponse, SesameHttpClient } from './client/http-client.option.js';
export { Approval } from './client/approval.js';
export type { ApprovalsResource } from './client/approvals.resource.js';
export type { ApprovalContext, ApprovalData, ApprovalStatus, TriggerApprovalInput, WaitOptions } from './client/approval.types.js';

// Webhook functions, for endpoints of your own and for tests.
export { signWebhook, generateWebhookSecret, type SignedWebhookHeaders, type SignWebhookOptions } from './webhooks/sign-webhook.js';
export { verifyWebhook, type VerifyWebhookOptions } from './webhooks/verify-webhook.js';
export { WebhookVerifier, type WebhookVerifierOptions, type WebhookVerifyOptions } from './webhooks/webhook-verifier.js';
export {
  readWebhookHeaders,
  WEBHOOK_ID_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
  type WebhookHeaderGetter,
  type WebhookHeadersInput,
  type WebhookHeaderValue,
  type WebhookHeaderValues,
} from './webhooks/webhook-headers.js';
export type { ApprovalDecisionPayload, WireWebhookPayload } from './webhooks/webhook-payload.js';

// The approval store.
export { ApprovalStore, type ClaimOutcome } from './approval-store/approval-store.interface.js';
export type { ApprovalStoreOption } from './approval-store/approval-store.factory.js';
export { InMemoryApprovalStore, type InMemoryApprovalStoreOptions } from './approval-store/in-memory-approval.store.js';
export { RedisApprovalStore, type RedisApprovalStoreConnectOptions, type RedisApprovalStoreOptions } from './approval-store/redis-approval.store.js';
export type { RedisClientLike, RedisConnectionEvent, RedisConnectionOptions, RedisConnectionView } from './approval-store/redis-client.like.js';

// Errors.
export * from './errors.js';
export {
  ApprovalAlreadyUsedError,
  ApprovalBindingError,
  ApprovalCapacityError,
  ApprovalConditionError,
  ApprovalHandlerContextError,
  ApprovalInUseError,
  ApprovalMismatchError,
  ApprovalPending,
  ApprovalPolicyDenied,
  AsyncApprovalContextError,
  InvalidApprovalIdHeaderError,
  type ApprovalMismatchCode,
} from './approval-gate/approval-gate.errors.js';
export { ApprovalPendingException } from './approval-gate/approval-pending.exception.js';
export { ApprovalStoreUnavailableError } from './approval-store/approval-store.errors.js';
