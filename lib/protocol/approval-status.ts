/** The statuses an approval has in broker protocol v1: pending until decided, then one terminal status for good. */
export const APPROVAL_STATUSES = ['pending', 'approved', 'denied', 'expired'] as const;
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];

export const TERMINAL_STATUSES = ['approved', 'denied', 'expired'] as const;
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

export function isApprovalStatus(value: unknown): value is ApprovalStatus {
  return (APPROVAL_STATUSES as readonly unknown[]).includes(value);
}

export function isTerminalStatus(value: unknown): value is TerminalStatus {
  return (TERMINAL_STATUSES as readonly unknown[]).includes(value);
}
