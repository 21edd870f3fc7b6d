/** The statuses an approval has in broker protocol v1: pending until decided, then one terminal status for good. */
export type ApprovalStatus = 'pending' | TerminalStatus;
export type TerminalStatus = 'approved' | 'denied' | 'expired';

export const TERMINAL_STATUSES: readonly TerminalStatus[] = ['approved', 'denied', 'expired'];
export const APPROVAL_STATUSES: readonly ApprovalStatus[] = ['pending', ...TERMINAL_STATUSES];

export function isApprovalStatus(value: unknown): value is ApprovalStatus {
  return (APPROVAL_STATUSES as readonly unknown[]).includes(value);
}

export function isTerminalStatus(value: unknown): value is TerminalStatus {
  return (TERMINAL_STATUSES as readonly unknown[]).includes(value);
}
