import { formatMoney } from '../money.js';

/** What the approver reads for a payout, in both payout flows. */
export function payoutSummary(payout: { amount: number; currency: string; destination: string }): string {
  return `Pay out ${formatMoney(payout.amount, payout.currency)} to ${payout.destination}`;
}
