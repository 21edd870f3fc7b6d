import { WebhookVerificationError, type WebhookVerificationErrorCode } from '../errors.js';

export const WEBHOOK_ID_HEADER = 'webhook-id';
export const WEBHOOK_TIMESTAMP_HEADER = 'webhook-timestamp';
export const WEBHOOK_SIGNATURE_HEADER = 'webhook-signature';

/** A fetch `Headers`, or anything else with a case-insensitive `get`. */
export interface WebhookHeaderGetter {
  get(name: string): string | null;
}

/** One header as Node gives it: repeats arrive as an array, or joined with ", ". */
export type WebhookHeaderValue = string | readonly string[] | undefined;

/**
 * Node's `IncomingHttpHeaders` (any name case), a fetch `Headers`, or an object with the three names
 * as properties (the last form lets interfaces without an index signature, like SignedWebhookHeaders, in).
 */
export type WebhookHeadersInput =
  | WebhookHeaderGetter
  | Readonly<Record<string, WebhookHeaderValue>>
  | {
      readonly 'webhook-id'?: WebhookHeaderValue;
      readonly 'webhook-timestamp'?: WebhookHeaderValue;
      readonly 'webhook-signature'?: WebhookHeaderValue;
    };

/** The three Standard Webhooks headers: present and unambiguous, not yet validated further. */
export interface WebhookHeaderValues {
  id: string;
  timestamp: string;
  /** Every entry of every `webhook-signature` value, in order, empty ones dropped. */
  signatures: string[];
}

// Node (for headers it does not know) and fetch both join repeats with exactly ", "; array items and
// other casings are joined the same way, so every form of repeat is split alike.
const JOINED = ', ';
// Entries are space-separated; a ", " join adds a comma that belongs to no entry (base64 never ends in ",").
const ENTRY_SEPARATOR = /,?\s+/;

/**
 * Reads `webhook-id`, `webhook-timestamp` and `webhook-signature`.
 * Throws WebhookVerificationError: `missing_header` (naming every missing header), or, when a header
 * repeats with different values or holds something other than strings, `invalid_header` (id),
 * `invalid_timestamp` or `invalid_signature_header`.
 */
export function readWebhookHeaders(headers: WebhookHeadersInput): WebhookHeaderValues {
  const [id, timestamp, signature] = given(headers).map(strings);
  const signatures = signature
    ?.join(JOINED)
    .split(ENTRY_SEPARATOR)
    .filter((entry) => entry !== '');

  const missing: string[] = [];
  if (id?.every((value) => value === '')) missing.push(WEBHOOK_ID_HEADER);
  if (timestamp?.every((value) => value === '')) missing.push(WEBHOOK_TIMESTAMP_HEADER);
  if (signatures?.length === 0) missing.push(WEBHOOK_SIGNATURE_HEADER);
  if (missing.length > 0) {
    throw new WebhookVerificationError('missing_header', `Missing webhook header(s): ${missing.join(', ')}`);
  }
  if (!signatures) {
    throw new WebhookVerificationError('invalid_signature_header', `The ${WEBHOOK_SIGNATURE_HEADER} header is not a string`);
  }
  return {
    id: single(WEBHOOK_ID_HEADER, id, 'invalid_header'),
    timestamp: single(WEBHOOK_TIMESTAMP_HEADER, timestamp, 'invalid_timestamp'),
    signatures,
  };
}

const NAMES = [WEBHOOK_ID_HEADER, WEBHOOK_TIMESTAMP_HEADER, WEBHOOK_SIGNATURE_HEADER];

/** What was given for each of NAMES, in that order, as found: one entry per property or `get`. */
function given(headers: unknown): unknown[][] {
  if (typeof headers !== 'object' || headers === null) return [[], [], []];
  if (typeof (headers as { get?: unknown }).get === 'function') return NAMES.map((name) => [(headers as WebhookHeaderGetter).get(name)]);
  // Node lower-cases names, but hand-built objects and some adapters do not; several casings of one
  // name in one object count as repeats, so a second casing cannot smuggle in a different value.
  const record = headers as Record<string, unknown>;
  const found: unknown[][] = [[], [], []];
  for (const key of Object.keys(record)) {
    const slot = NAMES.indexOf(key.toLowerCase());
    if (slot !== -1) found[slot].push(record[key]);
  }
  return found;
}

/** The values as strings, arrays flattened and absent ones dropped; null when one is neither a string nor an array of strings. */
function strings(values: readonly unknown[]): string[] | null {
  const out: string[] = [];
  for (const value of values) {
    if (typeof value === 'string') out.push(value);
    else if (Array.isArray(value) && value.every((item) => typeof item === 'string')) out.push(...(value as string[]));
    else if (value !== undefined && value !== null) return null;
  }
  return out;
}

/** The one value of `name`: identical repeats (array items or ", "-joined) are one value, different ones are refused. */
function single(name: string, values: readonly string[] | null, code: WebhookVerificationErrorCode): string {
  if (values === null) throw new WebhookVerificationError(code, `The ${name} header is not a string`);
  const parts = values.join(JOINED).split(JOINED);
  if (parts.some((part) => part !== parts[0])) {
    throw new WebhookVerificationError(code, `The ${name} header is repeated with different values`);
  }
  return parts[0];
}
