import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { ApprovalStore } from '../approval-store/approval-store.interface.js';
import { SesameConfig } from '../config/sesame.config.js';
import type { ApprovalDecisionPayload } from '../webhooks/webhook-payload.js';
import { APPROVAL_DECISION_LISTENER, type ApprovalDecisionListener } from './approval-decision.listener.js';
import { describe } from './describe-reason.js';
import { DecisionHandlerExplorer, type DecisionHandler } from './decision-handler.explorer.js';
import { WebhookInbox, type WebhookDispatchResult } from './webhook-inbox.js';

export type { WebhookDispatchResult } from './webhook-inbox.js';

/**
 * Runs the @OnApprovalDecision methods of this app's providers and controllers (found at init by
 * DecisionHandlerExplorer) for a verified decision webhook. The built-in endpoint (`webhookPath`)
 * calls dispatchOnce(); a custom endpoint can too.
 */
@Injectable()
export class ApprovalDecisionDispatcher {
  private readonly logger = new Logger('SesameWebhook');
  readonly #inbox: WebhookInbox;

  constructor(
    private readonly explorer: DecisionHandlerExplorer,
    config: SesameConfig,
    @Inject(ApprovalStore) store: ApprovalStore,
    @Optional() @Inject(APPROVAL_DECISION_LISTENER) private readonly listener?: ApprovalDecisionListener,
  ) {
    this.#inbox = new WebhookInbox(store, config.webhookClaimLease, config.webhookIdTtl, this.logger);
  }

  /** How many @OnApprovalDecision handlers were found at init. */
  get handlerCount(): number {
    return this.explorer.handlers.length;
  }

  /**
   * Calls every handler registered for `payload.action` (and every catch-all handler) and waits for all
   * of them. Resolves with the number of handlers run; if any failed, logs each failure and rejects with
   * an AggregateError of their errors, so the webhook endpoint answers 500 and the broker redelivers.
   */
  async dispatch(payload: ApprovalDecisionPayload): Promise<number> {
    const handlers = this.explorer.handlers.filter((h) => h.actions === null || h.actions.includes(payload.action));
    // The module's own listener (deferred jobs) hears every decision, and fails the dispatch like a handler; it is not counted as one.
    const listener = this.listener?.active
      ? [{ name: 'SesameModule (deferred jobs)', invoke: (decision: ApprovalDecisionPayload) => this.listener!.onDecision(decision) }]
      : [];
    const matching: Pick<DecisionHandler, 'name' | 'invoke'>[] = [...handlers, ...listener];
    const results = await Promise.allSettled(
      // Each handler gets its own copy: one mutating the payload must not change what the others see.
      matching.map(async (handler) => handler.invoke({ ...payload, decidedAt: new Date(payload.decidedAt.getTime()) })),
    );
    const failures: { handler: Pick<DecisionHandler, 'name'>; reason: unknown }[] = [];
    results.forEach((result, i) => {
      if (result.status === 'rejected') failures.push({ handler: matching[i], reason: result.reason });
    });
    if (failures.length === 0) return handlers.length;

    const about = `the ${payload.status} decision of approval ${payload.approvalId} (${payload.action}, webhook ${payload.webhookId})`;
    for (const { handler, reason } of failures) {
      this.logger.error(`${handler.name} failed on ${about}: ${describe(reason)}`, reason instanceof Error ? reason.stack : undefined);
    }
    throw new AggregateError(
      failures.map((f) => f.reason),
      `${failures.length} of ${matching.length} @OnApprovalDecision handler(s) failed on ${about}: ${failures.map((f) => f.handler.name).join(', ')}`,
    );
  }

  /**
   * dispatch(), at most once per `webhook-id` across every replica sharing the ApprovalStore (what the
   * built-in endpoint calls). The id is claimed first, then the handlers run; on success it is recorded
   * as processed for `webhookIdTtl`; if a handler fails the claim is released and the error rethrown,
   * so the broker's redelivery runs the handlers again. Rejects with ApprovalStoreUnavailableError
   * (nothing ran) when the store is unreachable.
   */
  dispatchOnce(payload: ApprovalDecisionPayload): Promise<WebhookDispatchResult> {
    return this.#inbox.once(payload, () => this.dispatch(payload));
  }
}
