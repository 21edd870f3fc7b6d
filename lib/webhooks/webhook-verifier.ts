import { types } from 'node:util';
import { WebhookVerificationError } from '../errors.js';
import { computeWebhookSignature } from './sign-webhook.js';
import { readWebhookHeaders, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER, type WebhookHeadersInput } from './webhook-headers.js';
import { parseDecisionPayload, type ApprovalDecisionPayload } from './webhook-payload.js';
import { decodeWebhookSecret } from './webhook-secret.js';
import { isStrictBase64 } from './strict-base64.js';

/** Default maximum clock difference, either way, between `webhook-timestamp` and now: 5 minutes. */
export const DEFAULT_WEBHOOK_TOLERANCE_MS = 300_000;

/** An HMAC key shorter than this can be guessed: a one-byte secret falls in 256 tries. */
export const MIN_WEBHOOK_SECRET_BYTES = 16;

export interface WebhookVerifierOptions {
  /** Maximum clock difference, either way, between `webhook-timestamp` and now, in ms. Default 300_000. */
  tolerance?: number;
}

export interface WebhookVerifyOptions {
  /** The current time, for tests. Default: the clock. */
  now?: Date | number;
}

const V1 = 'v1,';
// 1 to 12 ASCII digits: a millisecond timestamp (13 digits) must fail loudly rather than read as the far future.
const UNIX_SECONDS = /^[0-9]{1,12}$/;

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
    const nowMs = resolveNow(options);
    // util.types also recognises a Buffer or Uint8Array from another realm (vm, test runners).
    if (typeof rawBody !== 'string' && !types.isUint8Array(rawBody)) {
      throw new WebhookVerificationError('invalid_body', 'The webhook body must be the raw request body (string, Buffer or Uint8Array), not a parsed object');
    }
    const { id, timestamp, signatures } = readWebhookHeaders(headers);
    checkTimestamp(timestamp, nowMs, this.tolerance);
    // One HMAC per secret, however many entries the header lists.
    const matched = this.#keys.some((key) => {
      const expected = computeWebhookSignature(key, id, timestamp, rawBody);
      return signatures.some((entry) => isSignature(entry, expected));
    });
    if (!matched) throw mismatch(signatures);
    // Only now is the body trusted enough to be parsed.
    return parseDecisionPayload(rawBody, id);
  }
}

/** Throws WebhookVerificationError `invalid_secret`; the message holds no secret. */
function decodeSecrets(secret: unknown): Buffer[] {
  const list: readonly unknown[] = typeof secret === 'string' ? [secret] : Array.isArray(secret) ? secret : [];
  if (list.length === 0) {
    throw new WebhookVerificationError('invalid_secret', 'At least one webhook secret (whsec_<base64>) is required');
  }
  return list.map((s) => {
    const key = decodeWebhookSecret(s as string);
    if (key.length < MIN_WEBHOOK_SECRET_BYTES) {
      throw new WebhookVerificationError(
        'invalid_secret',
        `A webhook secret must hold at least ${MIN_WEBHOOK_SECRET_BYTES} bytes (the broker issues 24 or more); this one is too short to resist guessing`,
      );
    }
    return key;
  });
}

/** Throws WebhookVerificationError `invalid_options`. */
function resolveTolerance(options: unknown): number {
  const given = options === undefined || options === null ? undefined : (options as Record<string, unknown>).tolerance;
  const tolerance = given === undefined ? DEFAULT_WEBHOOK_TOLERANCE_MS : given;
  // NaN would make every tolerance comparison false, silently accepting replays.
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance < 0) {
    throw new WebhookVerificationError('invalid_options', 'The webhook tolerance must be a finite number of ms >= 0');
  }
  return tolerance;
}

/** Throws WebhookVerificationError `invalid_options`. */
function resolveNow(options: unknown): number {
  const now = options === undefined || options === null ? undefined : (options as Record<string, unknown>).now;
  if (now === undefined) return Date.now();
  const nowMs = types.isDate(now) ? now.getTime() : now;
  if (typeof nowMs !== 'number' || !Number.isFinite(nowMs)) {
    throw new WebhookVerificationError('invalid_options', 'The `now` option must be a valid Date or a finite number of ms');
  }
  return nowMs;
}

function checkTimestamp(timestamp: string, nowMs: number, toleranceMs: number): void {
  if (!UNIX_SECONDS.test(timestamp)) {
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

/**
 * Whether `entry` is exactly `expected` (`v1,` and the canonical base64 of the HMAC), in constant time.
 * Comparing the text, not the decoded bytes, also refuses non-canonical encodings of the right bytes,
 * which are no signature the broker sent.
 */
function isSignature(entry: string, expected: string): boolean {
  if (entry.length !== expected.length) return false;
  // Char codes with no early exit, as stripe-node's secureCompare: two Buffers per entry for crypto.timingSafeEqual
  // put verify at the edge of its budget (0.8x the node:crypto floor at 1 KiB, bench/webhook-verify.bench.mjs).
  let difference = 0;
  for (let i = 0; i < expected.length; i++) difference |= entry.charCodeAt(i) ^ expected.charCodeAt(i);
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
  const encoded = entry.slice(V1.length);
  // Decoding ignores the unused low bits of the last digit: only the canonical encoding is base64(HMAC).
  return entry.startsWith(V1) && isStrictBase64(encoded) && Buffer.from(encoded, 'base64').toString('base64') === encoded;
}
