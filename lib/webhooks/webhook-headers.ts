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

type HeaderName = typeof WEBHOOK_ID_HEADER | typeof WEBHOOK_TIMESTAMP_HEADER | typeof WEBHOOK_SIGNATURE_HEADER;

// Node (for headers it does not know) and fetch both join repeats with exactly ", ". Array items and
// other casings of a name are joined the same way, so every form of repeat is read alike.
const JOINED = ', ';
// The same separator as a RegExp, which V8 splits on in well under half the time of a string (the verify budget).
const JOINED_PATTERN = /, /;
// Entries are space-separated; a ", " join adds a comma that belongs to no entry (base64 never ends in ",").
const ENTRY_SEPARATOR = /,?\s+/;

/**
 * Reads `webhook-id`, `webhook-timestamp` and `webhook-signature`.
 * Throws WebhookVerificationError: `missing_header` (naming every missing header), or, when a header
 * repeats with different values or holds something other than strings, `invalid_header` (id),
 * `invalid_timestamp` or `invalid_signature_header`.
 */
export function readWebhookHeaders(headers: WebhookHeadersInput): WebhookHeaderValues {
  const found = joinedHeaders(headers);
  const id = split(found[WEBHOOK_ID_HEADER], JOINED_PATTERN);
  const timestamp = split(found[WEBHOOK_TIMESTAMP_HEADER], JOINED_PATTERN);
  const signatures = split(found[WEBHOOK_SIGNATURE_HEADER], ENTRY_SEPARATOR)?.filter((entry) => entry !== '');

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

/**
 * Each of the three headers as one string, its values joined with ", " in the order found; undefined
 * when absent, null when a value is neither a string nor an array of strings.
 */
function joinedHeaders(headers: unknown): Record<HeaderName, string | null | undefined> {
  const found: Record<HeaderName, string | null | undefined> = {
    [WEBHOOK_ID_HEADER]: undefined,
    [WEBHOOK_TIMESTAMP_HEADER]: undefined,
    [WEBHOOK_SIGNATURE_HEADER]: undefined,
  };
  if (typeof headers !== 'object' || headers === null) return found;
  if (typeof (headers as { get?: unknown }).get === 'function') {
    for (const name of Object.keys(found) as HeaderName[]) found[name] = append(undefined, (headers as WebhookHeaderGetter).get(name));
    return found;
  }
  // Node lower-cases names, but hand-built objects and some adapters do not; several casings of one
  // name in one object count as repeats, so a second casing cannot smuggle in a different value.
  const record = headers as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const name = key.toLowerCase();
    if (Object.hasOwn(found, name)) found[name as HeaderName] = append(found[name as HeaderName], record[key]);
  }
  return found;
}

/** `text` with a header value (a string, or an array of strings) joined on; absent values add nothing. */
function append(text: string | null | undefined, value: unknown): string | null | undefined {
  if (text === null || value === undefined || value === null) return text;
  if (Array.isArray(value)) return value.every((item) => typeof item === 'string') ? value.reduce(append, text) : null;
  if (typeof value !== 'string') return null;
  return text === undefined ? value : `${text}${JOINED}${value}`;
}

/** An absent header reads as one empty value; null (not a string) stays null. */
function split(text: string | null | undefined, separator: RegExp): string[] | null {
  return text === null ? null : (text ?? '').split(separator);
}

/** The one value of `name`: identical repeats are one value, different ones are refused. */
function single(name: string, values: readonly string[] | null, code: WebhookVerificationErrorCode): string {
  if (values === null) throw new WebhookVerificationError(code, `The ${name} header is not a string`);
  if (values.some((value) => value !== values[0])) {
    throw new WebhookVerificationError(code, `The ${name} header is repeated with different values`);
  }
  return values[0];
}
