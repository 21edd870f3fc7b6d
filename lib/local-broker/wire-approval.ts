import type { ApprovalStatus } from '../client/approval.types.js';
import type { TerminalStatus } from '../errors.js';
import type { WireWebhookPayload } from '../webhooks/webhook-payload.js';

/**
 * An approval exactly as broker protocol v1 puts it on the wire (snake_case, ISO 8601 UTC timestamps,
 * `null` for absent values). The local broker's programmatic API hands these out too.
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

/** A detached copy: callers of the programmatic API can never mutate the broker's state. */
export function copyApproval(approval: WireApproval): WireApproval {
  return { ...approval, context: approval.context === null ? null : structuredClone(approval.context) };
}

/** The decision webhook body for an approval that reached a terminal status. */
export function webhookPayloadFor(approval: WireApproval): WireWebhookPayload {
  return {
    approval_id: approval.id,
    action: approval.action,
    status: approval.status as TerminalStatus,
    decided_at: approval.decided_at ?? new Date().toISOString(),
    requester_label: approval.requester_label,
    dedup_key: approval.dedup_key,
  };
}
