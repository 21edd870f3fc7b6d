import type { LocalBroker, LocalBrokerEvents, WebhookDeliveryRecord } from '../../lib/testing/index.js';

/** Resolves with the next successful webhook delivery for one approval (no polling, no sleep). */
export function nextDelivery(broker: LocalBroker, approvalId: string): Promise<WebhookDeliveryRecord> {
  return new Promise((resolve) => {
    const listener = (...[record]: LocalBrokerEvents['webhook.delivered']) => {
      if (record.approvalId !== approvalId) return;
      broker.off('webhook.delivered', listener);
      resolve(record);
    };
    broker.on('webhook.delivered', listener);
  });
}
