import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { SeededRandom } from '../support/seeded-random.js';

/**
 * Generated decision webhooks for the fuzz suites: a valid signed webhook, then 0..4 mutations of its
 * headers, timestamp, signatures, body and encoding. The oracle is `referenceVerdict`, an independent
 * reading of docs/protocol.md: the code under test may reject more (never less) than it accepts.
 */

/** The clock the cases are signed for: now, so the guard (which reads the real clock) can be fuzzed with them too. */
export const FUZZ_NOW_MS = Math.floor(Date.now() / 1000) * 1000;
export const FUZZ_TOLERANCE_MS = 300_000;

export type HeaderValue = string | string[] | number | null | undefined | Record<string, unknown> | (string | number)[];

export interface WebhookCase {
  /** Header lines in order; a name may repeat (and in any casing). */
  headers: [string, HeaderValue][];
  body: Buffer;
  /** How the body is handed over. */
  bodyAs: 'string' | 'buffer' | 'uint8array';
  /** Secrets the receiver is configured with (decoded keys). */
  keys: Buffer[];
  /** Which mutations were applied, for the counts. */
  mutations: string[];
}

export const secretOf = (key: Buffer): string => `whsec_${key.toString('base64')}`;

const sign = (key: Buffer, id: string, ts: string, body: Buffer): string => `v1,${createHmac('sha256', key).update(`${id}.${ts}.`).update(body).digest('base64')}`;

const textArb = fc.string({ unit: 'grapheme', maxLength: 40 });
const payloadArb = fc.record(
  {
    approval_id: fc.oneof(fc.constant('apr_5d0c2a7e91b44f0e8a1c2d3e'), fc.string({ minLength: 1, maxLength: 40 })),
    action: fc.oneof(fc.constant('payments.refund'), textArb),
    status: fc.constantFrom('approved', 'denied', 'expired'),
    decided_at: fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => d.toISOString()),
    requester_label: fc.option(textArb, { nil: null }),
    dedup_key: fc.option(textArb, { nil: null }),
    note: textArb,
  },
  { requiredKeys: ['approval_id', 'action', 'status', 'decided_at'] },
);

const keysArb = fc.array(
  fc.uint8Array({ minLength: 16, maxLength: 48 }).map((a) => Buffer.from(a)),
  { minLength: 1, maxLength: 3 },
);

/** A valid webhook: right secret, fresh timestamp, well-formed payload, in one of the ways bodies and headers arrive. */
export function validCaseFor(keys: fc.Arbitrary<Buffer[]> = keysArb): fc.Arbitrary<WebhookCase> {
  return fc
    .record({
      keys,
      signerIndex: fc.nat(),
      id: fc.oneof(
        fc.uuid().map((u) => `msg_${u}`),
        fc.string({ minLength: 1, maxLength: 30, unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789_-') }),
      ),
      skewSeconds: fc.integer({ min: -FUZZ_TOLERANCE_MS / 1000 + 1, max: FUZZ_TOLERANCE_MS / 1000 - 1 }),
      payload: payloadArb,
      indent: fc.constantFrom(undefined, 0, 2),
      bodyAs: fc.constantFrom<WebhookCase['bodyAs']>('string', 'buffer', 'uint8array'),
      extraEntries: fc.array(fc.constantFrom('v2,abc', 'v1a,xyz', 'v1,notbase64!!', 'v1,AAAA'), { maxLength: 2 }),
    })
    .map(({ keys, signerIndex, id, skewSeconds, payload, indent, bodyAs, extraEntries }) => {
      const ts = String(Math.floor(FUZZ_NOW_MS / 1000) + skewSeconds);
      const body = Buffer.from(JSON.stringify(payload, null, indent));
      const signature = [...extraEntries, sign(keys[signerIndex % keys.length], id, ts, body)].join(' ');
      const c: WebhookCase = {
        headers: [
          ['webhook-id', id],
          ['webhook-timestamp', ts],
          ['webhook-signature', signature],
          ['content-type', 'application/json'],
        ],
        body,
        bodyAs,
        keys,
        mutations: [],
      };
      return c;
    });
}
export const validCaseArb = validCaseFor();

/** The random source a mutation draws from. */
interface Draw {
  nextInt(min: number, max: number): number;
  nextBoolean(): boolean;
}
type Mutation = (c: WebhookCase, r: Draw) => string;

const pickIndex = (r: Draw, n: number) => r.nextInt(0, Math.max(0, n - 1));
const headerIndex = (c: WebhookCase, name: string) => c.headers.findIndex(([n]) => n.toLowerCase() === name);
const randomAscii = (r: Draw, max: number) => Array.from({ length: r.nextInt(0, max) }, () => String.fromCharCode(r.nextInt(32, 126))).join('');

function setHeader(c: WebhookCase, name: string, value: HeaderValue): void {
  const i = headerIndex(c, name);
  if (i === -1) c.headers.push([name, value]);
  else c.headers[i] = [c.headers[i][0], value];
}
function getHeader(c: WebhookCase, name: string): string {
  const value = c.headers[headerIndex(c, name)]?.[1];
  return typeof value === 'string' ? value : '';
}

const NAMES = ['webhook-id', 'webhook-timestamp', 'webhook-signature'];

/** Every way the suites break (or merely reshape) a webhook. */
export const MUTATIONS: Record<string, Mutation> = {
  'drop header': (c, r) => {
    const name = NAMES[pickIndex(r, 3)];
    c.headers = c.headers.filter(([n]) => n.toLowerCase() !== name);
    return name;
  },
  'empty header': (c, r) => {
    setHeader(c, NAMES[pickIndex(r, 3)], r.nextBoolean() ? '' : '   ');
    return '';
  },
  'recase header name': (c, r) => {
    const i = pickIndex(r, c.headers.length);
    c.headers[i] = [c.headers[i][0].toUpperCase(), c.headers[i][1]];
    return '';
  },
  'repeat header, same value': (c, r) => {
    const i = headerIndex(c, NAMES[pickIndex(r, 3)]);
    if (i !== -1) c.headers.push([r.nextBoolean() ? c.headers[i][0] : c.headers[i][0].toUpperCase(), c.headers[i][1]]);
    return '';
  },
  'repeat header, other value': (c, r) => {
    const name = NAMES[pickIndex(r, 3)];
    c.headers.push([name, randomAscii(r, 20)]);
    return '';
  },
  'header as array': (c, r) => {
    const i = headerIndex(c, NAMES[pickIndex(r, 3)]);
    const text = (v: HeaderValue) => (typeof v === 'string' ? v : (JSON.stringify(v) ?? ''));
    if (i !== -1) c.headers[i] = [c.headers[i][0], r.nextBoolean() ? [text(c.headers[i][1])] : [text(c.headers[i][1]), randomAscii(r, 10)]];
    return '';
  },
  'header not a string': (c, r) => {
    const values: HeaderValue[] = [42, null, { toString: 'x' }, [1, 2], ['ok', 3 as unknown as string]];
    setHeader(c, NAMES[pickIndex(r, 3)], values[pickIndex(r, values.length)]);
    return '';
  },
  'change id': (c, r) => {
    const id = getHeader(c, 'webhook-id');
    setHeader(c, 'webhook-id', r.nextBoolean() ? `${id}x` : randomAscii(r, 30));
    return '';
  },
  'change timestamp': (c, r) => {
    const ts = Number(getHeader(c, 'webhook-timestamp')) || Math.floor(FUZZ_NOW_MS / 1000);
    const choices = [
      String(ts + 1),
      String(ts - r.nextInt(1, 10_000)),
      String(Math.floor(FUZZ_NOW_MS / 1000) - FUZZ_TOLERANCE_MS / 1000 - r.nextInt(1, 100_000)),
      String(Math.floor(FUZZ_NOW_MS / 1000) + FUZZ_TOLERANCE_MS / 1000 + r.nextInt(1, 100_000)),
      String(FUZZ_NOW_MS),
      ` ${ts}`,
      `${ts}.0`,
      `+${ts}`,
      `-${ts}`,
      `0x${ts.toString(16)}`,
      '9'.repeat(r.nextInt(13, 40)),
      `${ts}`.padStart(r.nextInt(11, 16), '0'),
      randomAscii(r, 12),
    ];
    setHeader(c, 'webhook-timestamp', choices[pickIndex(r, choices.length)]);
    return '';
  },
  'flip signature char': (c, r) => {
    const sig = getHeader(c, 'webhook-signature');
    if (sig.length === 0) return 'none';
    const i = pickIndex(r, sig.length);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=, v';
    setHeader(c, 'webhook-signature', sig.slice(0, i) + alphabet[pickIndex(r, alphabet.length)] + sig.slice(i + 1));
    return '';
  },
  'non-canonical base64': (c) => {
    // Same 32 bytes, but the unused low bits of the last base64 digit set: a different string decoding to the same digest.
    const sig = getHeader(c, 'webhook-signature');
    const m = /v1,([A-Za-z0-9+/]{42})([AEIMQUYcgkosw048])=/.exec(sig);
    if (!m) return 'none';
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const bumped = alphabet[alphabet.indexOf(m[2]) + 1];
    setHeader(c, 'webhook-signature', sig.replace(m[0], `v1,${m[1]}${bumped}=`));
    return '';
  },
  'truncate signature': (c, r) => {
    const sig = getHeader(c, 'webhook-signature');
    setHeader(c, 'webhook-signature', sig.slice(0, pickIndex(r, sig.length)));
    return '';
  },
  'signature variants': (c, r) => {
    const sig = getHeader(c, 'webhook-signature');
    const last = sig.split(' ').at(-1) ?? '';
    const b64 = last.slice(3);
    const variants = [
      `v2,${b64}`,
      `V1,${b64}`,
      `v1;${b64}`,
      `v1=${b64}`,
      `v1,${b64.replace(/=+$/, '')}`,
      `v1,${b64.replace(/\+/g, '-').replace(/\//g, '_')}`,
      `v1,${Buffer.from(b64, 'base64').toString('hex')}`,
      `v1,${b64}${b64}`,
      `v1, ${b64}`,
      `v1,${b64},`,
      `${b64}`,
      `v1,${Buffer.from(b64, 'base64').subarray(0, 16).toString('base64')}`,
    ];
    setHeader(c, 'webhook-signature', variants[pickIndex(r, variants.length)]);
    return '';
  },
  'sign with another secret': (c, r) => {
    const other = Buffer.from(Array.from({ length: 24 }, () => r.nextInt(0, 255)));
    setHeader(c, 'webhook-signature', sign(other, getHeader(c, 'webhook-id'), getHeader(c, 'webhook-timestamp'), c.body));
    return '';
  },
  'flip body byte': (c, r) => {
    if (c.body.length === 0) return 'none';
    const body = Buffer.from(c.body);
    body[pickIndex(r, body.length)] ^= 1 << r.nextInt(0, 7);
    c.body = body;
    return '';
  },
  'truncate body': (c, r) => {
    c.body = c.body.subarray(0, pickIndex(r, c.body.length));
    return '';
  },
  'append to body': (c, r) => {
    const tails = [' ', '\n', '\0', '}', ',{}', '\uFEFF'];
    c.body = Buffer.concat([c.body, Buffer.from(tails[pickIndex(r, tails.length)])]);
    return '';
  },
  'prepend BOM': (c) => {
    c.body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), c.body]);
    return '';
  },
  're-encode body': (c, r) => {
    const encodings: BufferEncoding[] = ['utf16le', 'latin1', 'base64', 'hex'];
    c.body = Buffer.from(c.body.toString(encodings[pickIndex(r, encodings.length)]));
    return '';
  },
  'invalid UTF-8 body': (c, r) => {
    const body = Buffer.from(c.body);
    body[pickIndex(r, body.length)] = [0xc3, 0xff, 0x80, 0xed][pickIndex(r, 4)];
    c.body = body;
    return '';
  },
  // The next ones re-sign what they changed with the receiver's own secret: only the payload checks can refuse them.
  'signed bad payload': (c, r) => {
    let value: unknown;
    try {
      value = JSON.parse(c.body.toString('utf8'));
    } catch {
      value = {};
    }
    const payload = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
    const broken: Record<string, unknown>[] = [
      { ...payload, status: ['pending', 'APPROVED', 'approved ', '', null, 1][pickIndex(r, 6)] },
      { ...payload, approval_id: ['', null, 42, ['apr_1']][pickIndex(r, 4)] },
      { ...payload, decided_at: ['yesterday', '', 0, null, '2026-13-45T99:99:99Z'][pickIndex(r, 5)] },
      { ...payload, action: [null, 7, {}][pickIndex(r, 3)] },
      { ...payload, requester_label: [5, {}, true][pickIndex(r, 3)] },
      { ...payload, dedup_key: [5, [], false][pickIndex(r, 3)] },
      Object.fromEntries(Object.entries(payload).filter(([k]) => k !== ['approval_id', 'action', 'status', 'decided_at'][pickIndex(r, 4)])),
    ];
    c.body = Buffer.from(JSON.stringify(broken[pickIndex(r, broken.length)]));
    resign(c);
    return '';
  },
  'signed non-object body': (c, r) => {
    const bodies = ['[]', '"approved"', '42', 'null', 'true', '', '{', 'not json', '{"__proto__":{"status":"approved"}}', `[${c.body.toString('utf8')}]`];
    c.body = Buffer.from(bodies[pickIndex(r, bodies.length)]);
    resign(c);
    return '';
  },
};

function resign(c: WebhookCase): void {
  setHeader(c, 'webhook-signature', sign(c.keys[0], getHeader(c, 'webhook-id'), getHeader(c, 'webhook-timestamp'), c.body));
}

const MUTATION_NAMES = Object.keys(MUTATIONS);

/** A valid webhook with 1..4 mutations applied (driven by a seed fast-check draws). */
export function mutatedCaseFrom(valid: fc.Arbitrary<WebhookCase>): fc.Arbitrary<WebhookCase> {
  return fc.tuple(valid, fc.array(fc.constantFrom(...MUTATION_NAMES), { minLength: 1, maxLength: 4 }), fc.nat()).map(([base, names, seed]) => {
    const c: WebhookCase = { ...base, headers: base.headers.map(([n, v]) => [n, v]), mutations: [] };
    const random = new SeededRandom(seed);
    for (const name of names) if (MUTATIONS[name](c, random) !== 'none') c.mutations.push(name);
    return c;
  });
}
export const mutatedCaseArb = mutatedCaseFrom(validCaseArb);

export function bodyParam(c: WebhookCase): string | Buffer | Uint8Array {
  if (c.bodyAs === 'string') return c.body.toString('utf8');
  if (c.bodyAs === 'buffer') return c.body;
  return new Uint8Array(c.body.buffer.slice(c.body.byteOffset, c.body.byteOffset + c.body.byteLength));
}

/** The headers as a plain object (repeats of one name in one casing: the last wins, as when building an object). */
export function headersObject(c: WebhookCase): Record<string, HeaderValue> {
  const out: Record<string, HeaderValue> = {};
  for (const [name, value] of c.headers) out[name] = value;
  return out;
}

export interface Verdict {
  valid: boolean;
  payload?: { approvalId: string; action: string; status: string; requesterLabel: string | null; dedupKey: string | null; webhookId: string };
}

/**
 * The oracle, from docs/protocol.md alone. `values(name)` gives every value a header has (after the
 * transport joined or split them), or null when one is not a string.
 */
export function referenceVerdict(values: (name: string) => string[] | null, body: string | Buffer, keys: Buffer[], nowMs = FUZZ_NOW_MS): Verdict {
  const one = (name: string): string | undefined => {
    const list = values(name);
    if (!list || list.length === 0) return undefined;
    const distinct = new Set(list.flatMap((v) => v.split(', ')));
    return distinct.size === 1 ? [...distinct][0] : undefined;
  };
  const id = one('webhook-id');
  const ts = one('webhook-timestamp');
  const sigValues = values('webhook-signature');
  if (!id || !ts || !sigValues) return { valid: false };
  if (!/^[0-9]+$/.test(ts) || Math.abs(Number(ts) * 1000 - nowMs) > FUZZ_TOLERANCE_MS) return { valid: false };
  // Entries are space-separated; transports join repeated headers with ", ", whose comma belongs to no entry.
  const tokens = sigValues.join(' ').split(/,?\s+/);
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const expected = keys.map((key) => sign(key, id, ts, bytes));
  if (!tokens.some((t) => expected.includes(t))) return { valid: false };

  let text: string;
  if (typeof body === 'string') text = body;
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(body);
    } catch {
      return { valid: false };
    }
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { valid: false };
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return { valid: false };
  const o = data as Record<string, unknown>;
  const own = (k: string) => (Object.hasOwn(o, k) ? o[k] : undefined);
  const approvalId = own('approval_id');
  const action = own('action');
  const status = own('status');
  const decidedAt = own('decided_at');
  const label = own('requester_label') ?? null;
  const dedup = own('dedup_key') ?? null;
  if (typeof approvalId !== 'string' || approvalId === '' || typeof action !== 'string') return { valid: false };
  if (status !== 'approved' && status !== 'denied' && status !== 'expired') return { valid: false };
  if (typeof decidedAt !== 'string' || Number.isNaN(new Date(decidedAt).getTime())) return { valid: false };
  if ((label !== null && typeof label !== 'string') || (dedup !== null && typeof dedup !== 'string')) return { valid: false };
  return { valid: true, payload: { approvalId, action, status, requesterLabel: label, dedupKey: dedup, webhookId: id } };
}

/** referenceVerdict's view of a plain header object: every casing of a name counts, arrays flattened. */
export function objectHeaderValues(headers: Record<string, HeaderValue>): (name: string) => string[] | null {
  return (name) => {
    const out: string[] = [];
    for (const [key, value] of Object.entries(headers)) {
      if (key.toLowerCase() !== name || value === undefined || value === null) continue;
      if (typeof value === 'string') out.push(value);
      else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) out.push(...(value as string[]));
      else return null;
    }
    return out;
  };
}
