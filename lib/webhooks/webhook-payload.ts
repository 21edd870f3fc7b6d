import type { TerminalStatus } from '../errors.js';

/** The decision webhook body as the broker sends it (protocol v1, snake_case). */
export interface WireWebhookPayload {
  approval_id: string;
  action: string;
  status: TerminalStatus;
  decided_at: string;
  requester_label: string | null;
  dedup_key?: string | null;
}

/** A verified decision webhook, in the TypeScript API's shape. */
export interface ApprovalDecisionPayload {
  approvalId: string;
  action: string;
  status: TerminalStatus;
  decidedAt: Date;
  requesterLabel: string | null;
  dedupKey: string | null;
  /** The `webhook-id` header: stable across redeliveries, so usable for de-duplication. */
  webhookId: string;
}
