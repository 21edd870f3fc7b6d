/**
 * Every detail of broker protocol v1 lives here: paths, field names, units, error bodies.
 * A change of wire format is a change to this file only (see docs/protocol.md).
 */
import { BrokerProtocolError, NotFoundError, RequestRejectedError, SesameAuthError, type ApprovalError } from '../errors.js';
import { APPROVAL_STATUSES, isApprovalStatus, type ApprovalStatus } from '../protocol/approval-status.js';
import { WIRE_LIMITS } from '../protocol/wire-limits.js';
import type { WireCreateApprovalRequest } from '../protocol/wire-requests.js';
import { parseWireTimestamp } from '../protocol/wire-timestamp.js';
import type { ApprovalData, TriggerApprovalInput } from './approval.types.js';

/** The longest long-poll the broker accepts, in seconds. */
export const MAX_WAIT_SECONDS = WIRE_LIMITS.waitMax;

export interface WireRequest {
  method: 'GET' | 'POST';
  path: string;
  body?: WireCreateApprovalRequest;
}

export const wire = {
  trigger(input: TriggerApprovalInput, dedupKey: string): WireRequest {
    const body: WireCreateApprovalRequest = { action: input.action, summary: input.summary, dedup_key: dedupKey };
    if (input.reason !== undefined) body.reason = input.reason;
    if (input.context !== undefined) body.context = input.context;
    if (input.callbackUrl !== undefined) body.callback_url = input.callbackUrl;
    // The TypeScript API speaks milliseconds; the wire speaks whole seconds. Round up so nothing expires early.
    if (input.expiresIn !== undefined) body.expires_in = Math.ceil(input.expiresIn / 1000);
    return { method: 'POST', path: '/v1/approvals', body };
  },

  get(id: string): WireRequest {
    return { method: 'GET', path: `/v1/approvals/${encodeURIComponent(id)}` };
  },

  /** One long-poll of `seconds` (clamped to the wire's 1..60). */
  wait(id: string, seconds: number): WireRequest {
    const s = Math.min(WIRE_LIMITS.waitMax, Math.max(WIRE_LIMITS.waitMin, Math.ceil(seconds)));
    return { method: 'GET', path: `/v1/approvals/${encodeURIComponent(id)}/wait?timeout=${s}` };
  },

  headers(apiKey: string, userAgent: string): Record<string, string> {
    return { authorization: `Bearer ${apiKey}`, 'user-agent': userAgent, accept: 'application/json' };
  },

  /** Parses and checks an Approval body; anything off-protocol is a BrokerProtocolError, never a partial object. */
  parseApproval(body: unknown): ApprovalData {
    const o = asObject(body, 'approval');
    return {
      id: str(o, 'id'),
      action: str(o, 'action'),
      summary: str(o, 'summary'),
      reason: nullableStr(o, 'reason'),
      context: nullableObject(o, 'context'),
      status: status(o),
      createdAt: date(o, 'created_at'),
      expiresAt: nullableDate(o, 'expires_at'),
      decidedAt: nullableDate(o, 'decided_at'),
      requesterLabel: nullableStr(o, 'requester_label'),
      dedupKey: nullableStr(o, 'dedup_key'),
      callbackUrl: nullableStr(o, 'callback_url'),
    };
  },

  /**
   * Maps a non-2xx answer that must not be retried to its typed error.
   * Returns undefined for statuses the transport retries (429, 5xx).
   * `redact` masks secrets the broker's own text may quote (a proxy echoing the Authorization header).
   */
  errorFor(status: number, body: unknown, approvalId: string | undefined, redact: (text: string) => string): ApprovalError | undefined {
    if (status === 429 || status >= 500) return undefined;
    const { code: rawCode, message: rawMessage } = errorBody(body);
    // Masked before cut: a cut first could keep all of a secret but its last characters.
    const code = rawCode === undefined ? undefined : redact(rawCode).slice(0, 100);
    const message = rawMessage === undefined ? undefined : redact(rawMessage).slice(0, 500);
    if (status === 401) return new SesameAuthError();
    if (status === 404) return new NotFoundError(approvalId);
    if (status === 400 || status === 422) return new RequestRejectedError(status, code ?? 'invalid_request', message ?? 'no detail given');
    return new BrokerProtocolError(`Unexpected HTTP ${status} from the Sesame broker${code ? ` (${code})` : ''}`);
  },
};

function errorBody(body: unknown): { code?: string; message?: string } {
  const error = typeof body === 'object' && body !== null ? (body as { error?: unknown }).error : undefined;
  if (typeof error !== 'object' || error === null) return {};
  const { code, message } = error as { code?: unknown; message?: unknown };
  // Bounded by errorFor(), after masking, in what a broker can push into our error messages.
  return {
    code: typeof code === 'string' ? code.slice(0, 10_000) : undefined,
    message: typeof message === 'string' ? message.slice(0, 10_000) : undefined,
  };
}

function asObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BrokerProtocolError(`Broker sent a malformed ${what}: expected a JSON object`);
  }
  return value as Record<string, unknown>;
}

function fail(field: string, expected: string): never {
  throw new BrokerProtocolError(`Broker sent a malformed approval: "${field}" should be ${expected}`);
}

function str(o: Record<string, unknown>, field: string): string {
  const v = o[field];
  return typeof v === 'string' && v.length > 0 ? v : fail(field, 'a non-empty string');
}

function nullableStr(o: Record<string, unknown>, field: string): string | null {
  const v = o[field];
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? v : fail(field, 'a string or null');
}

function nullableObject(o: Record<string, unknown>, field: string): Record<string, unknown> | null {
  const v = o[field];
  if (v === null || v === undefined) return null;
  return typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : fail(field, 'an object or null');
}

function date(o: Record<string, unknown>, field: string): Date {
  const v = o[field];
  const d = typeof v === 'string' ? parseWireTimestamp(v) : undefined;
  return d ?? fail(field, 'an ISO 8601 UTC timestamp with milliseconds');
}

function nullableDate(o: Record<string, unknown>, field: string): Date | null {
  return o[field] === null || o[field] === undefined ? null : date(o, field);
}

function status(o: Record<string, unknown>): ApprovalStatus {
  const v = o.status;
  return isApprovalStatus(v) ? v : fail('status', APPROVAL_STATUSES.join(' | '));
}
