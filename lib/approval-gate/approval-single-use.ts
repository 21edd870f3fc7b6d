import { randomUUID } from 'node:crypto';
import type { LoggerService } from '@nestjs/common';
import type { Approval } from '../client/approval.js';
import { ApprovalStoreUnavailableError } from '../approval-store/approval-store.errors.js';
import type { ApprovalStore } from '../approval-store/approval-store.interface.js';

/**
 * How long a use claim lasts before it is confirmed. Claim and confirm are two store round trips apart;
 * a claim left over by an attempt that failed between them lapses after this, so the call can run then.
 */
export const USE_CLAIM_LEASE_MS = 30_000;
/**
 * A used mark is kept for the approval's whole lifetime (from the broker's own timestamps) plus this,
 * counted from when it was used: a replica whose clock lags by less still finds the mark for as long as
 * it would accept the approval. No replica clock sets how long the mark lives.
 */
const USED_MARK_MARGIN_MS = 24 * 3_600_000;
/** Broker maximum (7 days): the lifetime assumed when the broker gave no expiry. */
const MAX_APPROVAL_LIFETIME_MS = 7 * 24 * 3_600_000;

/**
 * The single use of an approval, atomic across every replica sharing the store. Two store steps:
 * claim `approval:<id>` with a random token and a short lease, then complete it (the used mark, kept
 * past the approval's life). `taken` only once the mark is confirmed; if the store cannot confirm,
 * the claim is undone where possible, so a retry can take it: exactly once overall.
 */
export class ApprovalSingleUse {
  constructor(
    private readonly store: ApprovalStore,
    private readonly logger: LoggerService,
  ) {}

  /**
   * `taken`: this caller holds the use and may run the call. `used`: it ran before. `in_use`: another
   * attempt is between its claim and its confirmation, or our lease lapsed before we confirmed (a
   * stalled process). Throws ApprovalStoreUnavailableError when the store fails twice.
   */
  async take(approval: Approval, mark = ''): Promise<'taken' | 'used' | 'in_use'> {
    const key = `approval:${approval.id}${mark}`;
    const token = randomUUID();
    const claim = await this.storeStep(key, approval, token, () => this.store.claim(key, token, USE_CLAIM_LEASE_MS));
    if (claim === 'done') return 'used';
    const confirmed = claim === 'claimed' && (await this.storeStep(key, approval, token, () => this.store.complete(key, token, usedMarkTtl(approval))));
    return confirmed ? 'taken' : 'in_use';
  }

  /**
   * Whether take(approval, mark) happened (`used`), without taking it: `free` (nobody took it), or
   * `in_use` (someone is taking it right now). A deferred job's runs record their failures this way.
   */
  async check(approval: Approval, mark: string): Promise<'used' | 'free' | 'in_use'> {
    const key = `approval:${approval.id}${mark}`;
    const token = randomUUID();
    const claim = await this.storeStep(key, approval, token, () => this.store.claim(key, token, USE_CLAIM_LEASE_MS));
    if (claim === 'done') return 'used';
    if (claim === 'held') return 'in_use';
    await this.store.release(key, token);
    return 'free';
  }

  /**
   * Runs a claim or confirm step, asked again once if the store fails (asked again with the same token,
   * each answers the same, so an answer lost to a timeout is found again). If it fails twice, nothing
   * runs and the token's claim is undone where the store allows, so a retry can run the call.
   */
  private async storeStep<T>(key: string, approval: Approval, token: string, step: () => Promise<T>): Promise<T> {
    try {
      try {
        return await step();
      } catch (error) {
        if (!(error instanceof ApprovalStoreUnavailableError)) throw error;
        return await step();
      }
    } catch (error) {
      await this.store.release(key, token).catch(() => {
        this.logger.error(
          `Approval ${approval.id}: the approval store failed while taking its single use, and the claim could not be undone; nothing ran. ` +
            `A retry gets 409 approval_in_use until the claim lapses (${USE_CLAIM_LEASE_MS} ms) and runs then, unless the confirmation had landed (409 approval_already_used).`,
        );
      });
      throw error;
    }
  }
}

/** The approval's lifetime by the broker's own timestamps, plus the margin: no local clock involved. */
function usedMarkTtl(approval: Approval): number {
  const lifetime = approval.expiresAt ? approval.expiresAt.getTime() - approval.createdAt.getTime() : MAX_APPROVAL_LIFETIME_MS;
  return Math.ceil(Math.min(Math.max(1, lifetime), MAX_APPROVAL_LIFETIME_MS) + USED_MARK_MARGIN_MS);
}
