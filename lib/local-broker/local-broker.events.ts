import type { WireApproval } from '../protocol/wire-approval.js';
import type { DecisionDetail } from './approval-registry.js';
import type { WebhookDeliveryRecord } from './webhook-delivery.js';

/** The events a LocalBroker emits; listeners get detached copies. */
export type LocalBrokerEvents = {
  'approval.created': [approval: WireApproval];
  'approval.decided': [approval: WireApproval, detail: DecisionDetail];
  /** One successful (2xx) delivery attempt. */
  'webhook.delivered': [record: WebhookDeliveryRecord];
  /** One failed attempt; `record.willRetry` is false when the broker gave up on that event. */
  'webhook.failed': [record: WebhookDeliveryRecord];
};

export type EmitLocalBrokerEvent = <K extends keyof LocalBrokerEvents>(event: K, ...args: LocalBrokerEvents[K]) => void;
