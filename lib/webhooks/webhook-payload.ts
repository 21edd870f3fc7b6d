import { WebhookVerificationError, type TerminalStatus } from '../errors.js';
import { parseWireTimestamp } from '../protocol/wire-timestamp.js';

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

// decode() without { stream: true } starts from a fresh state, so one shared decoder is safe.
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses a verified webhook body into the TypeScript shape, checking every field.
 * Throws WebhookVerificationError: `invalid_body` (not UTF-8 JSON) or `invalid_payload` (wrong shape).
 */
export function parseDecisionPayload(rawBody: string | Uint8Array, webhookId: string): ApprovalDecisionPayload {
  return toDecisionPayload(parseBody(rawBody), webhookId);
}

function parseBody(rawBody: string | Uint8Array): unknown {
  let text: string;
  if (typeof rawBody === 'string') {
    text = rawBody;
  } else {
    try {
      text = UTF8.decode(rawBody);
    } catch {
      throw new WebhookVerificationError('invalid_body', 'The webhook body is not valid UTF-8');
    }
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new WebhookVerificationError('invalid_body', 'The webhook body is not valid JSON');
  }
}

function toDecisionPayload(data: unknown, webhookId: string): ApprovalDecisionPayload {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) invalidPayload('the body is not a JSON object');
  const record = data as Record<string, unknown>;

  const approvalId = ownField(record, 'approval_id');
  if (typeof approvalId !== 'string' || approvalId === '') invalidPayload('approval_id must be a non-empty string');
  const action = ownField(record, 'action');
  if (typeof action !== 'string') invalidPayload('action must be a string');
  const status = ownField(record, 'status');
  if (status !== 'approved' && status !== 'denied' && status !== 'expired') invalidPayload('status must be approved, denied or expired');
  const decidedAtText = ownField(record, 'decided_at');
  const decidedAt = typeof decidedAtText === 'string' ? parseWireTimestamp(decidedAtText) : undefined;
  if (!decidedAt || Number.isNaN(decidedAt.getTime())) invalidPayload('decided_at must be a date string');
  const requesterLabel = ownField(record, 'requester_label') ?? null;
  if (requesterLabel !== null && typeof requesterLabel !== 'string') invalidPayload('requester_label must be a string or null');
  const dedupKey = ownField(record, 'dedup_key') ?? null;
  if (dedupKey !== null && typeof dedupKey !== 'string') invalidPayload('dedup_key must be a string or null');

  return { approvalId, action, status, decidedAt, requesterLabel, dedupKey, webhookId };
}

/** Own properties only: a polluted Object.prototype must not fill in missing fields. */
function ownField(record: Record<string, unknown>, name: keyof WireWebhookPayload): unknown {
  return Object.hasOwn(record, name) ? record[name] : undefined;
}

function invalidPayload(problem: string): never {
  throw new WebhookVerificationError('invalid_payload', `Invalid webhook payload: ${problem}`);
}
