/**
 * `nestjs-sesame/testing`: the local broker, an in-memory implementation of Sesame broker protocol v1
 * for development, demos and tests.
 */
export { LocalBroker, type LocalBrokerEvents, type ApprovalPredicate, type WaitForApprovalOptions } from '../local-broker/local-broker.js';
export {
  LOCAL_BROKER_DEFAULT_API_KEY,
  LOCAL_BROKER_DEFAULT_LABEL,
  DEFAULT_WEBHOOK_RETRY,
  DEFAULT_RETENTION,
  type LocalBrokerOptions,
  type LocalBrokerRetentionOptions,
  type LocalBrokerDecision,
  type LocalBrokerDecidePolicy,
  type LocalBrokerLogger,
  type WebhookRetryOptions,
} from '../local-broker/local-broker.options.js';
export { ApprovalAlreadyDecidedError, LocalBrokerStoppedError, WaitForApprovalTimeoutError } from '../local-broker/local-broker.errors.js';
export type { DecisionDetail, DecisionSource } from '../local-broker/approval-registry.js';
export type { WebhookDeliveryRecord } from '../local-broker/webhook-delivery.js';
export type { WireApproval } from '../protocol/wire-approval.js';
// Types the broker's API uses, from the root entry, so this entry's types read on their own.
export type { ApprovalStatus } from '../client/approval.types.js';
export type { TerminalStatus } from '../errors.js';
export type { WireWebhookPayload } from '../webhooks/webhook-payload.js';
