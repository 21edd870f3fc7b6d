import { createHmac, timingSafeEqual } from 'node:crypto';
import { types } from 'node:util';
import { WebhookVerificationError, type TerminalStatus } from '../errors.js';
import { readWebhookHeaders, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER, type WebhookHeadersInput } from './webhook-headers.js';
import type { ApprovalDecisionPayload } from './webhook-payload.js';
import { decodeWebhookSecret } from './webhook-secret.js';

/** Default maximum clock difference, either way, between `webhook-timestamp` and now: 5 minutes. */
export const DEFAULT_WEBHOOK_TOLERANCE_MS = 300_000;

export interface VerifyWebhookOptions {
  /** Maximum clock difference, either way, between `webhook-timestamp` and now, in ms. Default 300_000. */
  tolerance?: number;
  /** The current time, for tests. Default: the clock. */
  now?: Date | number;
}

// At most 12 digits: a millisecond timestamp (13 digits) must fail loudly rather than read as the far future.
const TIMESTAMP = /^[0-9]{1,12}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const STATUSES: ReadonlySet<string> = new Set<TerminalStatus>(['approved', 'denied', 'expired']);
// decode() without { stream: true } starts from a fresh state, so one shared decoder is safe.
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Verifies a Standard Webhooks v1 decision webhook and returns its payload.
 *
 * `rawBody` must be the exact bytes received (not re-serialized JSON). `secret` may list several
 * `whsec_` secrets during a rotation: the webhook passes when any `v1` signature matches any secret.
 * Every failure is a WebhookVerificationError; its message never contains a secret or a signature.
 */
export function verifyWebhook(
  headers: WebhookHeadersInput,
  rawBody: string | Buffer | Uint8Array,
  secret: string | readonly string[],
  options: VerifyWebhookOptions = {},
): ApprovalDecisionPayload {
  // Configuration errors first, so they surface on every request rather than only on well-formed ones.
  const keys = decodeSecrets(secret);
  const { toleranceMs, nowMs } = resolveOptions(options);
  // util.types also recognises a Buffer or Uint8Array from another realm (vm, test runners).
  if (typeof rawBody !== 'string' && !types.isUint8Array(rawBody)) {
    throw new WebhookVerificationError(
      'invalid_body',
      'The webhook body must be the raw request body (string, Buffer or Uint8Array), not a parsed object',
    );
  }

  const { id, timestamp, signatures } = readWebhookHeaders(headers);
  checkTimestamp(timestamp, nowMs, toleranceMs);
  const candidates = parseSignatures(signatures);
  if (!matchesAny(keys, `${id}.${timestamp}.`, rawBody, candidates)) {
    throw new WebhookVerificationError('signature_mismatch', 'No webhook signature matches the configured secret(s)');
  }
  // Only now is the body trusted enough to be parsed.
  return toDecisionPayload(parseBody(rawBody), id);
}

function decodeSecrets(secret: unknown): Buffer[] {
  const list: readonly unknown[] = typeof secret === 'string' ? [secret] : Array.isArray(secret) ? secret : [];
  if (list.length === 0) {
    throw new WebhookVerificationError('invalid_secret', 'At least one webhook secret (whsec_<base64>) is required');
  }
  return list.map((s) => decodeWebhookSecret(s as string));
}

function resolveOptions(options: unknown): { toleranceMs: number; nowMs: number } {
  const { tolerance = DEFAULT_WEBHOOK_TOLERANCE_MS, now } = (options ?? {}) as Record<string, unknown>;
  // NaN would make every tolerance comparison false, silently accepting replays.
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance < 0) {
    throw new WebhookVerificationError('invalid_options', 'verifyWebhook: tolerance must be a finite number of ms >= 0');
  }
  const nowMs =
    now === undefined
      ? Date.now()
      : types.isDate(now)
        ? now.getTime()
        : now;
  if (typeof nowMs !== 'number' || !Number.isFinite(nowMs)) {
    throw new WebhookVerificationError('invalid_options', 'verifyWebhook: now must be a valid Date or a finite number of ms');
  }
  return { toleranceMs: tolerance, nowMs };
}

function checkTimestamp(timestamp: string, nowMs: number, toleranceMs: number): void {
  if (!TIMESTAMP.test(timestamp)) {
    throw new WebhookVerificationError('invalid_timestamp', `The ${WEBHOOK_TIMESTAMP_HEADER} header must be unix seconds`);
  }
  const timestampMs = Number(timestamp) * 1000;
  if (timestampMs < nowMs - toleranceMs) {
    throw new WebhookVerificationError('timestamp_too_old', `The webhook timestamp is older than the ${toleranceMs} ms tolerance`);
  }
  if (timestampMs > nowMs + toleranceMs) {
    throw new WebhookVerificationError('timestamp_too_new', `The webhook timestamp is further in the future than the ${toleranceMs} ms tolerance`);
  }
}

/** Decoded `v1` digests. Other versions and malformed entries are skipped; none at all is an error. */
function parseSignatures(entries: readonly string[]): Buffer[] {
  const digests: Buffer[] = [];
  for (const entry of entries) {
    const comma = entry.indexOf(',');
    if (comma === -1 || entry.slice(0, comma) !== 'v1') continue;
    const encoded = entry.slice(comma + 1);
    // Buffer.from(..., 'base64') silently drops junk, so check the alphabet first.
    if (encoded.length % 4 !== 0 || !BASE64.test(encoded)) continue;
    const digest = Buffer.from(encoded, 'base64');
    // Decoding ignores the unused low bits of the last digit: only the canonical encoding is base64(HMAC).
    if (digest.toString('base64') !== encoded) continue;
    digests.push(digest);
  }
  if (digests.length === 0) {
    throw new WebhookVerificationError('invalid_signature_header', `The ${WEBHOOK_SIGNATURE_HEADER} header has no valid v1 signature`);
  }
  return digests;
}

function matchesAny(keys: readonly Buffer[], prefix: string, body: string | Uint8Array, candidates: readonly Buffer[]): boolean {
  // One HMAC per secret, however many entries the header lists.
  for (const key of keys) {
    const expected = createHmac('sha256', key).update(prefix).update(body).digest();
    for (const candidate of candidates) {
      // timingSafeEqual throws on unequal lengths; a wrong length is simply not a match.
      if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) return true;
    }
  }
  return false;
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
  // Own properties only: a polluted Object.prototype must not fill in missing fields.
  const field = (name: string): unknown => (Object.hasOwn(record, name) ? record[name] : undefined);

  const approvalId = field('approval_id');
  if (typeof approvalId !== 'string' || approvalId === '') invalidPayload('approval_id must be a non-empty string');
  const action = field('action');
  if (typeof action !== 'string') invalidPayload('action must be a string');
  const status = field('status');
  if (typeof status !== 'string' || !STATUSES.has(status)) invalidPayload('status must be approved, denied or expired');
  const decidedAtText = field('decided_at');
  const decidedAt = typeof decidedAtText === 'string' ? new Date(decidedAtText) : undefined;
  if (!decidedAt || Number.isNaN(decidedAt.getTime())) invalidPayload('decided_at must be a date string');
  const requesterLabel = field('requester_label') ?? null;
  if (requesterLabel !== null && typeof requesterLabel !== 'string') invalidPayload('requester_label must be a string or null');
  const dedupKey = field('dedup_key') ?? null;
  if (dedupKey !== null && typeof dedupKey !== 'string') invalidPayload('dedup_key must be a string or null');

  return { approvalId, action, status: status as TerminalStatus, decidedAt, requesterLabel, dedupKey, webhookId };
}

function invalidPayload(problem: string): never {
  throw new WebhookVerificationError('invalid_payload', `Invalid webhook payload: ${problem}`);
}
