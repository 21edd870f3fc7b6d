import type { ApprovalStatus } from './approval-status.js';

/**
 * An approval exactly as broker protocol v1 puts it on the wire (snake_case, wire timestamps,
 * `null` for absent values): the body of every approval answer.
 */
export interface WireApproval {
  id: string;
  action: string;
  summary: string;
  reason: string | null;
  context: Record<string, unknown> | null;
  status: ApprovalStatus;
  created_at: string;
  expires_at: string;
  decided_at: string | null;
  requester_label: string | null;
  dedup_key: string | null;
  callback_url: string | null;
}

/** One page of `GET /v1/approvals`, newest first. */
export interface WireApprovalPage {
  approvals: WireApproval[];
  /** Pass as `cursor` for the next page; null on the last one. */
  next_cursor: string | null;
}
