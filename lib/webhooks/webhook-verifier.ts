import { createHmac } from 'node:crypto';
import { types } from 'node:util';
import { WebhookVerificationError } from '../errors.js';
import { readWebhookHeaders, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER, type WebhookHeadersInput } from './webhook-headers.js';
import { parseDecisionPayload, type ApprovalDecisionPayload } from './webhook-payload.js';
import { decodeWebhookSecret } from './webhook-secret.js';
import { isStrictBase64 } from './strict-base64.js';

/** Default maximum clock difference, either way, between `webhook-timestamp` and now: 5 minutes. */
export const DEFAULT_WEBHOOK_TOLERANCE_MS = 300_000;

export interface WebhookVerifierOptions {
  /** Maximum clock difference, either way, between `webhook-timestamp` and now, in ms. Default 300_000. */
  tolerance?: number;
}

export interface WebhookVerifyOptions {
  /** The current time, for tests. Default: the clock. */
  now?: Date | number;
}

const V1 = 'v1,';
// At most 12 digits: a millisecond timestamp (13 digits) must fail loudly rather than read as the far future.
const MAX_TIMESTAMP_DIGITS = 12;

/**
 * Verifies Standard Webhooks v1 decision webhooks against secrets decoded once, up front: build one
 * per configuration and call verify() per request. Several `whsec_` secrets may be given during a
 * rotation: a webhook passes when any `v1` signature matches any secret.
 *
 * The decoded keys live in #private fields, so logging or inspecting a verifier shows none of them.
 */
export class WebhookVerifier {
  readonly #keys: readonly Buffer[];
  /** Maximum clock difference, either way, between `webhook-timestamp` and now, in ms. */
  readonly tolerance: number;

  /** Throws WebhookVerificationError `invalid_secret` or `invalid_options`; neither message holds a secret. */
  constructor(secret: string | readonly string[], options: WebhookVerifierOptions = {}) {
    this.#keys = decodeSecrets(secret);
    this.tolerance = resolveTolerance(options);
  }

  /**
   * Verifies a decision webhook and returns its payload. `rawBody` must be the exact bytes received
   * (not re-serialized JSON). Every failure is a WebhookVerificationError; its message never contains
   * a secret or a signature.
   */
  verify(headers: WebhookHeadersInput, rawBody: string | Buffer | Uint8Array, options?: WebhookVerifyOptions): ApprovalDecisionPayload {
    return verifyWithKeys(this.#keys, this.tolerance, headers, rawBody, resolveNow(options));
  }
}

/**
 * The whole check, for WebhookVerifier and for the one-shot verifyWebhook, which calls it without
 * building a verifier (an object and a private field per webhook). Not exported from the package.
 */
export function verifyWithKeys(
  keys: readonly Buffer[],
  tolerance: number,
  headers: WebhookHeadersInput,
  rawBody: string | Buffer | Uint8Array,
  nowMs: number,
): ApprovalDecisionPayload {
  // util.types also recognises a Buffer or Uint8Array from another realm (vm, test runners).
  if (typeof rawBody !== 'string' && !types.isUint8Array(rawBody)) {
    throw new WebhookVerificationError(
      'invalid_body',
      'The webhook body must be the raw request body (string, Buffer or Uint8Array), not a parsed object',
    );
  }

  const { id, timestamp, signatures } = readWebhookHeaders(headers);
  checkTimestamp(timestamp, nowMs, tolerance);
  if (!matchesAny(keys, `${id}.${timestamp}.`, rawBody, signatures)) throw mismatch(signatures);
  // Only now is the body trusted enough to be parsed.
  return parseDecisionPayload(rawBody, id);
}

function matchesAny(keys: readonly Buffer[], prefix: string, body: string | Uint8Array, entries: readonly string[]): boolean {
  // One HMAC per secret, however many entries the header lists.
  for (const key of keys) {
    // A base64 string straight from OpenSSL costs less than a digest Buffer plus decoding each entry.
    const expected = createHmac('sha256', key).update(prefix).update(body).digest('base64');
    let matched = false;
    for (const entry of entries) if (isSignature(entry, expected)) matched = true;
    if (matched) return true;
  }
  return false;
}

/** An HMAC key shorter than this can be guessed: a one-byte secret falls in 256 tries. */
export const MIN_WEBHOOK_SECRET_BYTES = 16;

/** Throws WebhookVerificationError `invalid_secret`; the message holds no secret. */
export function decodeSecrets(secret: unknown): Buffer[] {
  const list: readonly unknown[] = typeof secret === 'string' ? [secret] : Array.isArray(secret) ? secret : [];
  if (list.length === 0) {
    throw new WebhookVerificationError('invalid_secret', 'At least one webhook secret (whsec_<base64>) is required');
  }
  return list.map((s) => {
    const key = decodeWebhookSecret(s as string);
    if (key.length < MIN_WEBHOOK_SECRET_BYTES) {
      throw new WebhookVerificationError('invalid_secret', `A webhook secret must hold at least ${MIN_WEBHOOK_SECRET_BYTES} bytes (the broker issues 24 or more); this one is too short to resist guessing`);
    }
    return key;
  });
}

/** Throws WebhookVerificationError `invalid_options`. */
export function resolveTolerance(options: unknown): number {
  const given = options === undefined || options === null ? undefined : (options as Record<string, unknown>).tolerance;
  const tolerance = given === undefined ? DEFAULT_WEBHOOK_TOLERANCE_MS : given;
  // NaN would make every tolerance comparison false, silently accepting replays.
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance < 0) {
    throw new WebhookVerificationError('invalid_options', 'The webhook tolerance must be a finite number of ms >= 0');
  }
  return tolerance;
}

/** Throws WebhookVerificationError `invalid_options`. */
export function resolveNow(options: unknown): number {
  const now = options === undefined || options === null ? undefined : (options as Record<string, unknown>).now;
  if (now === undefined) return Date.now();
  const nowMs = types.isDate(now) ? now.getTime() : now;
  if (typeof nowMs !== 'number' || !Number.isFinite(nowMs)) {
    throw new WebhookVerificationError('invalid_options', 'The `now` option must be a valid Date or a finite number of ms');
  }
  return nowMs;
}

function checkTimestamp(timestamp: string, nowMs: number, toleranceMs: number): void {
  if (!isUnixSeconds(timestamp)) {
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

/** 1 to 12 ASCII digits, nothing else. */
function isUnixSeconds(text: string): boolean {
  if (text.length === 0 || text.length > MAX_TIMESTAMP_DIGITS) return false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x30 || code > 0x39) return false;
  }
  return true;
}

/**
 * Whether `entry` is `v1,` followed by exactly `expected`, the canonical base64 of the HMAC. Comparing
 * the text also refuses non-canonical encodings of the right bytes, which are no signature the broker sent.
 */
function isSignature(entry: string, expected: string): boolean {
  if (entry.length !== V1.length + expected.length || !entry.startsWith(V1)) return false;
  // Constant time over the secret-derived part (OR of XORed char codes, no early exit), as Stripe and
  // standardwebhooks compare; measured faster than decoding to Buffers for crypto.timingSafeEqual.
  let difference = 0;
  for (let i = 0; i < expected.length; i++) difference |= entry.charCodeAt(V1.length + i) ^ expected.charCodeAt(i);
  return difference === 0;
}

/** No entry matched: `invalid_signature_header` when none is even a well-formed v1 signature, else `signature_mismatch`. */
function mismatch(entries: readonly string[]): WebhookVerificationError {
  if (!entries.some(isWellFormedV1)) {
    return new WebhookVerificationError('invalid_signature_header', `The ${WEBHOOK_SIGNATURE_HEADER} header has no valid v1 signature`);
  }
  return new WebhookVerificationError('signature_mismatch', 'No webhook signature matches the configured secret(s)');
}

/** `v1,` and canonical base64. Other versions and malformed entries are skipped, never errors by themselves. */
function isWellFormedV1(entry: string): boolean {
  const comma = entry.indexOf(',');
  if (comma === -1 || entry.slice(0, comma) !== 'v1') return false;
  const encoded = entry.slice(comma + 1);
  if (!isStrictBase64(encoded)) return false;
  // Decoding ignores the unused low bits of the last digit: only the canonical encoding is base64(HMAC).
  return Buffer.from(encoded, 'base64').toString('base64') === encoded;
}
