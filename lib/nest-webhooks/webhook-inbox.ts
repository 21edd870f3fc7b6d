import { randomUUID } from 'node:crypto';
import type { LoggerService } from '@nestjs/common';
import type { ApprovalStore } from '../approval-store/approval-store.interface.js';
import { keepClaimed } from '../approval-store/keep-claimed.js';
import type { ApprovalDecisionPayload } from '../webhooks/webhook-payload.js';
import { describe } from './describe-reason.js';

/** What dispatchOnce() did with a webhook. */
export type WebhookDispatchResult =
  /** First delivery of this webhook id: every matching handler ran and succeeded. */
  | { status: 'dispatched'; handlers: number }
  /** Already processed (a redelivery or a replay, maybe to another replica): nothing ran. */
  | { status: 'duplicate' }
  /** Another request holds this webhook id right now: nothing ran; answer non-2xx so the broker redelivers. */
  | { status: 'in_progress' };

/**
 * Processes each decision webhook at most once across every replica sharing the ApprovalStore: the
 * webhook id is claimed with a lease (renewed while the handlers run), recorded as processed for
 * `idTtl` when they succeed, and released when they fail, so the broker's redelivery runs them again.
 */
export class WebhookInbox {
  constructor(
    private readonly store: ApprovalStore,
    /** How long a claim lasts without renewal (ms). */
    private readonly lease: number,
    /** How long a processed id is remembered (ms). */
    private readonly idTtl: number,
    private readonly logger: LoggerService,
  ) {}

  /**
   * Runs `run` (the handlers) unless this webhook id was processed or is being processed. Rejects with
   * ApprovalStoreUnavailableError (nothing ran) when the store is unreachable, and with the handlers'
   * error (after releasing the claim) when they fail.
   */
  async once(payload: ApprovalDecisionPayload, run: () => Promise<number>): Promise<WebhookDispatchResult> {
    const { webhookId } = payload;
    const about = `webhook ${webhookId} (approval ${payload.approvalId}, ${payload.action})`;
    const key = `webhook:${webhookId}`;
    const token = randomUUID();
    const lease = this.lease;
    const claim = await this.store.claim(key, token, lease);
    if (claim === 'done') {
      this.logger.log(`Decision ${about} was already processed: no handler runs again`);
      return { status: 'duplicate' };
    }
    if (claim === 'held') {
      this.logger.warn(`Decision ${about} is being processed by another request right now: refused, the broker will redeliver`);
      return { status: 'in_progress' };
    }

    // A handler may outlast the lease: renewing it keeps a redelivery from running the handlers a second time beside it.
    const renewal = keepClaimed(this.store, key, token, lease, (reason) =>
      this.logger.error(`Could not keep the claim on ${about} while its handlers run (${reason}): a redelivery may run them again`),
    );
    let handlers: number;
    try {
      handlers = await run();
    } catch (error) {
      renewal.stop();
      await this.store.release(key, token).catch((releaseError: unknown) => {
        this.logger.error(`Could not release ${about} after its handlers failed (${describe(releaseError)}): a redelivery runs them once the claim lapses (${lease} ms)`);
      });
      throw error;
    }
    renewal.stop();
    try {
      if (!(await this.store.complete(key, token, this.idTtl))) {
        this.logger.error(`Handlers of ${about} ran, but its claim had lapsed before it was recorded as processed: another delivery may have run them too`);
      }
    } catch (error) {
      // The handlers did run: answering 2xx stops redeliveries, which is the best left to do.
      this.logger.error(`Handlers of ${about} ran, but it could not be recorded as processed (${describe(error)}): a redelivery after ${lease} ms would run them again`);
    }
    return { status: 'dispatched', handlers };
  }
}
