import { APPROVAL_STATUSES, isApprovalStatus, type ApprovalStatus } from '../protocol/approval-status.js';
import { WIRE_LIMITS } from '../protocol/wire-limits.js';
import type { WireDecision } from '../protocol/wire-requests.js';
import { HttpError } from './http-io.js';

/** The old name of the protocol limits, still imported by test/security. */
export { WIRE_LIMITS as LIMITS };

export interface CreateApprovalBody {
  action: string;
  summary: string;
  reason: string | null;
  context: Record<string, unknown> | null;
  callbackUrl: string | null;
  dedupKey: string | null;
  expiresIn: number;
}

export interface DecisionBody {
  decision: WireDecision;
  note: string | null;
}

function invalid(problems: string[]): HttpError {
  return new HttpError(422, 'validation_failed', problems.join('; '));
}

function asBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid(['request body must be a JSON object']);
  return body as Record<string, unknown>;
}

function boundedString(value: unknown, field: string, max: number, problems: string[]): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    problems.push(`"${field}" must be a non-empty string of at most ${max} characters`);
    return '';
  }
  return value;
}

/** Validates `POST /v1/approvals` (a WireCreateApprovalRequest); unknown fields are ignored. Throws HttpError 422 naming every bad field. */
export function parseCreateApprovalBody(raw: unknown): CreateApprovalBody {
  const body = asBody(raw);
  const problems: string[] = [];
  const action = boundedString(body.action, 'action', WIRE_LIMITS.actionMaxLength, problems);
  const summary = boundedString(body.summary, 'summary', WIRE_LIMITS.summaryMaxLength, problems);

  const reason = body.reason ?? null;
  if (reason !== null && typeof reason !== 'string') problems.push('"reason" must be a string or null');

  const context = body.context ?? null;
  if (context !== null && (typeof context !== 'object' || Array.isArray(context))) problems.push('"context" must be a JSON object or null');
  else if (context !== null) checkContextBounds(context, problems);

  const callbackUrl = body.callback_url ?? null;
  if (callbackUrl !== null && !isHttpUrl(callbackUrl)) problems.push('"callback_url" must be an absolute http(s) URL or null');

  const dedupKey = body.dedup_key ?? null;
  if (dedupKey !== null) boundedString(dedupKey, 'dedup_key', WIRE_LIMITS.dedupKeyMaxLength, problems);

  const expiresIn = body.expires_in ?? WIRE_LIMITS.expiresInDefault;
  if (!Number.isInteger(expiresIn) || (expiresIn as number) < WIRE_LIMITS.expiresInMin || (expiresIn as number) > WIRE_LIMITS.expiresInMax) {
    problems.push(`"expires_in" must be an integer number of seconds from ${WIRE_LIMITS.expiresInMin} to ${WIRE_LIMITS.expiresInMax}`);
  }

  if (problems.length > 0) throw invalid(problems);
  return {
    action,
    summary,
    reason: reason as string | null,
    context: context as Record<string, unknown> | null,
    callbackUrl: callbackUrl as string | null,
    dedupKey: dedupKey as string | null,
    expiresIn: expiresIn as number,
  };
}

/**
 * Every copy, webhook and answer of an approval serialises or clones its context, and those recurse:
 * an unbounded context (a few thousand levels) made them throw after a decision was applied. Bounded
 * here, at creation, nothing downstream can fail on it.
 */
function checkContextBounds(context: object, problems: string[]): void {
  if (depthExceeds(context, WIRE_LIMITS.contextMaxDepth)) {
    problems.push(`"context" must be nested at most ${WIRE_LIMITS.contextMaxDepth} levels deep`);
    return; // a bounded depth is what makes JSON.stringify below safe
  }
  if (Buffer.byteLength(JSON.stringify(context)) > WIRE_LIMITS.contextMaxBytes) {
    problems.push(`"context" must serialise to at most ${WIRE_LIMITS.contextMaxBytes} bytes of JSON`);
  }
}

/** True when `value` (from JSON.parse: no cycles) nests deeper than `max`; recursion stops at max + 1. */
function depthExceeds(value: object, max: number): boolean {
  if (max === 0) return true;
  for (const child of Array.isArray(value) ? value : Object.values(value)) {
    if (typeof child === 'object' && child !== null && depthExceeds(child as object, max - 1)) return true;
  }
  return false;
}

/** Validates `POST /v1/approvals/{id}/decision` (a WireDecisionRequest). */
export function parseDecisionBody(raw: unknown): DecisionBody {
  const body = asBody(raw);
  const problems: string[] = [];
  const decision = body.decision;
  if (decision !== 'approve' && decision !== 'deny') problems.push('"decision" must be "approve" or "deny"');
  const note = body.note ?? null;
  if (note !== null && (typeof note !== 'string' || note.length > WIRE_LIMITS.noteMaxLength)) {
    problems.push(`"note" must be a string of at most ${WIRE_LIMITS.noteMaxLength} characters, or null`);
  }
  if (problems.length > 0) throw invalid(problems);
  return { decision: decision as WireDecision, note: note as string | null };
}

/** The `timeout` query parameter of the wait endpoint, in seconds. */
export function parseWaitTimeout(raw: string | null): number {
  if (raw === null) return WIRE_LIMITS.waitDefault;
  const seconds = /^\d{1,3}$/.test(raw) ? Number(raw) : NaN;
  if (!(seconds >= WIRE_LIMITS.waitMin && seconds <= WIRE_LIMITS.waitMax)) {
    throw invalid([`"timeout" must be an integer number of seconds from ${WIRE_LIMITS.waitMin} to ${WIRE_LIMITS.waitMax}`]);
  }
  return seconds;
}

/** The optional `status` query parameter of the list endpoint. */
export function parseStatusFilter(raw: string | null): ApprovalStatus | undefined {
  if (raw === null) return undefined;
  if (!isApprovalStatus(raw)) throw invalid([`"status" must be one of ${APPROVAL_STATUSES.join(', ')}`]);
  return raw;
}

/** The `limit` query parameter of the list endpoint: how many approvals one page holds. */
export function parseListLimit(raw: string | null): number {
  if (raw === null) return WIRE_LIMITS.listLimitDefault;
  const limit = /^\d{1,3}$/.test(raw) ? Number(raw) : NaN;
  if (!(limit >= 1 && limit <= WIRE_LIMITS.listLimitMax)) {
    throw invalid([`"limit" must be an integer from 1 to ${WIRE_LIMITS.listLimitMax}`]);
  }
  return limit;
}

/** The `cursor` query parameter of the list endpoint: a `next_cursor` from an earlier page, or absent. */
export function parseListCursor(raw: string | null): number | undefined {
  if (raw === null) return undefined;
  const position = /^c[0-9a-z]{1,11}$/.test(raw) ? parseInt(raw.slice(1), 36) : NaN;
  if (!Number.isSafeInteger(position)) throw invalid(['"cursor" must be a next_cursor value from an earlier page']);
  return position;
}

/** The opaque `next_cursor` for a page that ends at the approval with this creation position. */
export function formatListCursor(position: number): string {
  return `c${position.toString(36)}`;
}

function isHttpUrl(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname.length > 0;
  } catch {
    return false;
  }
}
