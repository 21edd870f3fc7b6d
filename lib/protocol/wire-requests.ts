/** The body of `POST /v1/approvals`. Optional fields may be omitted or null; durations are whole seconds. */
export interface WireCreateApprovalRequest {
  action: string;
  summary: string;
  reason?: string | null;
  context?: Record<string, unknown> | null;
  callback_url?: string | null;
  dedup_key?: string | null;
  expires_in?: number | null;
}

export type WireDecision = 'approve' | 'deny';

/** The body of `POST /v1/approvals/{id}/decision` (local broker only). */
export interface WireDecisionRequest {
  decision: WireDecision;
  note?: string | null;
}
