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
