import type { WireApproval } from '../protocol/wire-approval.js';
import { copyApproval } from './approval-copy.js';
import type { DecisionDetail, DecisionSource } from './approval-registry.js';
import type { ApprovalWatchers } from './approval-watchers.js';
import { errorMessage, type BrokerLog } from './broker-log.js';
import type { DashboardEventHub } from './dashboard/dashboard-events.hub.js';
import type { EmitLocalBrokerEvent, LocalBrokerEvents } from './local-broker.events.js';
import { webhookPayloadFor, type WebhookDelivery, type WebhookDeliveryRecord } from './webhook-delivery.js';

/**
 * What follows a committed change: the decision webhook, the log line, the programmatic waits, the
 * dashboard stream and the broker's events.
 *
 * These run after the registry committed the change, so they must not throw: a throw would answer 500
 * for an approval that exists, or for a decision that stands, and skip the effects after it (the
 * webhook among them). Each effect is isolated; the webhook, the one that leaves the process, is queued first.
 */
export class ApprovalEffects {
  constructor(
    private readonly deps: {
      log: BrokerLog;
      webhooks: WebhookDelivery;
      watchers: ApprovalWatchers;
      dashboardEvents: DashboardEventHub | undefined;
      emit: EmitLocalBrokerEvent;
    },
  ) {}

  created(approval: WireApproval): void {
    const { log, watchers, dashboardEvents } = this.deps;
    log(
      `approval ${approval.id} created: ${approval.action} - ${JSON.stringify(approval.summary)} ` +
        `(requester ${approval.requester_label ?? 'unknown'}, expires ${approval.expires_at})`,
    );
    this.isolated('created', 'waitForApproval() matching', () => watchers.approvalChanged(approval));
    this.isolated('created', 'dashboard event', () => dashboardEvents?.publish('created', approval));
    this.isolated('created', '"approval.created" event', () => this.safeEmit('approval.created', copyApproval(approval)));
  }

  decided(approval: WireApproval, detail: DecisionDetail): void {
    const { log, webhooks, watchers, dashboardEvents } = this.deps;
    const callbackUrl = approval.callback_url;
    if (callbackUrl !== null) this.isolated('decided', 'webhook', () => webhooks.send(callbackUrl, webhookPayloadFor(approval)));
    log(`approval ${approval.id} ${approval.status} (${describeSource(detail.source)})${detail.note ? `: ${JSON.stringify(detail.note)}` : ''}`);
    this.isolated('decided', 'waitForApproval() matching', () => watchers.approvalChanged(approval));
    this.isolated('decided', 'dashboard event', () => dashboardEvents?.publish('decided', approval));
    this.isolated('decided', '"approval.decided" event', () => this.safeEmit('approval.decided', copyApproval(approval), detail));
  }

  webhookAttempt(record: WebhookDeliveryRecord): void {
    const { log } = this.deps;
    if (record.ok) {
      log(`webhook ${record.webhookId} for ${record.approvalId} delivered (HTTP ${record.statusCode}, attempt ${record.attempt})`);
      this.safeEmit('webhook.delivered', record);
    } else {
      const why = record.statusCode !== null ? `HTTP ${record.statusCode}` : (record.error ?? 'unknown error');
      log(`webhook ${record.webhookId} for ${record.approvalId} failed (${why}, attempt ${record.attempt})` + (record.willRetry ? ', will retry' : ', giving up'));
      this.safeEmit('webhook.failed', record);
    }
  }

  private isolated(change: 'created' | 'decided', effect: string, run: () => void): void {
    try {
      run();
    } catch (error) {
      this.deps.log(`${effect} failed after an approval was ${change} (the ${change === 'created' ? 'approval' : 'decision'} stands): ${errorMessage(error)}`);
    }
  }

  /** A throwing listener must not break a decision (or crash the process from a timer). */
  private safeEmit<K extends keyof LocalBrokerEvents>(event: K, ...args: LocalBrokerEvents[K]): void {
    try {
      this.deps.emit(event, ...args);
    } catch (error) {
      this.deps.log(`a "${event}" listener threw: ${errorMessage(error)}`);
    }
  }
}

function describeSource(source: DecisionSource): string {
  return { http: 'via the decision endpoint', dashboard: 'on the dashboard', api: 'via the LocalBroker API', policy: 'by the decide policy', expiry: 'expiry time reached' }[
    source
  ];
}
