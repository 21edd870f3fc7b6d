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

// Node (for headers it does not know) and fetch both join repeats with exactly ", ".
const JOINED = ', ';
// Entries are space-separated; a ", " join adds a comma that belongs to no entry (base64 never ends in ",").
const ENTRY_SEPARATOR = /,?\s+/;
const HAS_WHITESPACE = /\s/;

/**
 * Reads `webhook-id`, `webhook-timestamp` and `webhook-signature`.
 * Throws WebhookVerificationError: `missing_header` (naming every missing header), or, when a header
 * repeats with different values or holds something other than strings, `invalid_header` (id),
 * `invalid_timestamp` or `invalid_signature_header`.
 */
export function readWebhookHeaders(headers: WebhookHeadersInput): WebhookHeaderValues {
  return readUsualShape(headers) ?? readAnyShape(headers);
}

/**
 * The shape nearly every request has (a plain object, each name once, as one plain string, no repeat
 * joined in), read without the general path's arrays; undefined sends anything else down that path,
 * which reaches the same result for this shape.
 */
function readUsualShape(headers: unknown): WebhookHeaderValues | undefined {
  if (typeof headers !== 'object' || headers === null || typeof (headers as { get?: unknown }).get === 'function') return undefined;
  const record = headers as Record<string, unknown>;
  let id: unknown;
  let timestamp: unknown;
  let signature: unknown;
  for (const name of Object.keys(record)) {
    const slot = slotOf(name);
    if (slot === undefined) continue;
    // A second casing of a name is a repeat: the general path decides whether it conflicts.
    if (slot === 'id') {
      if (id !== undefined) return undefined;
      id = record[name];
    } else if (slot === 'timestamp') {
      if (timestamp !== undefined) return undefined;
      timestamp = record[name];
    } else {
      if (signature !== undefined) return undefined;
      signature = record[name];
    }
  }
  if (!isPlainValue(id) || !isPlainValue(timestamp) || !isPlainValue(signature)) return undefined;
  if (id.includes(JOINED) || timestamp.includes(JOINED) || HAS_WHITESPACE.test(signature)) return undefined;
  return { id, timestamp, signatures: [signature] };
}

function isPlainValue(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}

function readAnyShape(headers: unknown): WebhookHeaderValues {
  const raw = collect(headers);
  const id = strings(raw.id);
  const timestamp = strings(raw.timestamp);
  const signature = strings(raw.signature);
  const signatures = signature === null ? undefined : splitEntries(signature);

  const missing: string[] = [];
  if (isAbsent(id)) missing.push(WEBHOOK_ID_HEADER);
  if (isAbsent(timestamp)) missing.push(WEBHOOK_TIMESTAMP_HEADER);
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

type Slot = keyof RawHeaders;

/** Which of the three headers `name` is, in any casing; undefined for any other header. */
function slotOf(name: string): Slot | undefined {
  const slot = exactSlot(name);
  if (slot !== undefined) return slot;
  // Lower-casing only names of the right length keeps the usual dozen other headers cheap.
  if (name.length !== WEBHOOK_ID_HEADER.length && name.length !== WEBHOOK_SIGNATURE_HEADER.length) return undefined;
  return exactSlot(name.toLowerCase());
}

function exactSlot(name: string): Slot | undefined {
  switch (name) {
    case WEBHOOK_ID_HEADER:
      return 'id';
    case WEBHOOK_TIMESTAMP_HEADER:
      return 'timestamp';
    case WEBHOOK_SIGNATURE_HEADER:
      return 'signature';
    default:
      return undefined;
  }
}

interface RawHeaders {
  id: unknown[];
  timestamp: unknown[];
  signature: unknown[];
}

function collect(headers: unknown): RawHeaders {
  const raw: RawHeaders = { id: [], timestamp: [], signature: [] };
  if (typeof headers !== 'object' || headers === null) return raw;
  if (typeof (headers as { get?: unknown }).get === 'function') {
    const getter = headers as WebhookHeaderGetter;
    raw.id.push(getter.get(WEBHOOK_ID_HEADER));
    raw.timestamp.push(getter.get(WEBHOOK_TIMESTAMP_HEADER));
    raw.signature.push(getter.get(WEBHOOK_SIGNATURE_HEADER));
    return raw;
  }
  // Node lower-cases names, but hand-built objects and some adapters do not; several casings of one
  // name in one object count as repeats, so a second casing cannot smuggle in a different value.
  const record = headers as Record<string, unknown>;
  for (const name of Object.keys(record)) {
    const slot = slotOf(name);
    if (slot !== undefined) raw[slot].push(record[name]);
  }
  return raw;
}

/** Flattens header values into strings; null when one is neither a string nor an array of strings. */
function strings(values: readonly unknown[]): string[] | null {
  const out: string[] = [];
  for (const value of values) {
    if (value === undefined || value === null) continue;
    if (typeof value === 'string') {
      out.push(value);
    } else if (Array.isArray(value) && value.every((item) => typeof item === 'string')) {
      out.push(...(value as string[]));
    } else {
      return null;
    }
  }
  return out;
}

function splitEntries(values: readonly string[]): string[] {
  // The usual case, one value holding one entry, without the regex split and its arrays (a hot path).
  if (values.length === 1 && !HAS_WHITESPACE.test(values[0])) return values[0] === '' ? [] : [values[0]];
  return values.flatMap((value) => value.split(ENTRY_SEPARATOR)).filter((entry) => entry !== '');
}

function isAbsent(values: readonly string[] | null): boolean {
  return values !== null && values.every((value) => value === '');
}

function single(name: string, values: readonly string[] | null, code: WebhookVerificationErrorCode): string {
  if (values === null) throw new WebhookVerificationError(code, `The ${name} header is not a string`);
  if (values.length === 1 && !values[0].includes(JOINED)) return values[0];
  const distinct = new Set(values.flatMap((value) => value.split(JOINED)));
  if (distinct.size > 1) throw new WebhookVerificationError(code, `The ${name} header is repeated with different values`);
  return distinct.values().next().value as string;
}
