import type { ApprovalStatus } from '../protocol/approval-status.js';

/** Part of the TypeScript API's shape (`ApprovalData.status`), defined with the wire in lib/protocol. */
export type { ApprovalStatus };

/** JSON-serialisable context shown to the approver. */
export type ApprovalContext = Record<string, unknown>;

export interface TriggerApprovalInput {
  /** Machine name of the operation, e.g. `payments.refund`. */
  action: string;
  /** One line the human reads before deciding. */
  summary: string;
  reason?: string;
  context?: ApprovalContext;
  /** Where the broker POSTs the signed decision webhook. */
  callbackUrl?: string;
  /**
   * Same key as an approval still open on the broker -> that approval is returned, nobody is paged twice.
   * When omitted the client generates one per call, so its own retries can never page twice.
   */
  dedupKey?: string;
  /** Milliseconds until the broker expires the approval undecided. */
  expiresIn?: number;
}

export interface WaitOptions {
  /** Milliseconds to wait for a decision before `ApprovalTimeout`. Default: the client's `defaultTimeout`. */
  timeout?: number;
  /** Stops the wait at once with `ApprovalAborted`. */
  signal?: AbortSignal;
}

/** The approval fields, in the TypeScript API's shape. */
export interface ApprovalData {
  id: string;
  action: string;
  summary: string;
  reason: string | null;
  context: ApprovalContext | null;
  status: ApprovalStatus;
  createdAt: Date;
  expiresAt: Date | null;
  decidedAt: Date | null;
  requesterLabel: string | null;
  dedupKey: string | null;
  callbackUrl: string | null;
}
