/** Which payout flow this run has: `deferred` (BullMQ jobs, with a Redis) or `webhook` (ApprovalsService.trigger, without). */
export type PayoutFlow = 'deferred' | 'webhook';

/** Injection token of the PayoutFlow. */
export const PAYOUT_FLOW = 'PAYOUT_FLOW';
