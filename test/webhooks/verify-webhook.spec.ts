import { createHmac } from 'node:crypto';
import { verifyWebhook, DEFAULT_WEBHOOK_TOLERANCE_MS } from '../../lib/webhooks/verify-webhook.js';
import { WebhookVerificationError } from '../../lib/errors.js';
import { BODY, NOW, NOW_SECONDS, PAYLOAD, WEBHOOK_ID, EXPECTED_PAYLOAD, at, assertNoLeak, expectVerificationError, newSecret, sign } from './webhook-test-kit.js';

const SECRET = newSecret();
const OTHER_SECRET = newSecret();

/** Signs `ts` exactly as given (signWebhook only takes a Date), the way the spec defines the signed content. */
function signRaw(secret: string, id: string, ts: string, body: string): string {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  return 'v1,' + createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
}

describe('verifyWebhook: valid webhooks', () => {
  it('accepts a string body and returns the camelCase payload', () => {
    const result = verifyWebhook(sign(BODY, SECRET), BODY, SECRET, { now: NOW });
    expect(result).toEqual(EXPECTED_PAYLOAD);
    expect(result.decidedAt).toBeInstanceOf(Date);
  });

  it('accepts a Buffer body', () => {
    const body = Buffer.from(BODY);
    expect(verifyWebhook(sign(body, SECRET), body, SECRET, { now: NOW })).toEqual(EXPECTED_PAYLOAD);
  });

  it('accepts a plain Uint8Array body', () => {
    const body = new Uint8Array(Buffer.from(BODY));
    expect(verifyWebhook(sign(BODY, SECRET), body, SECRET, { now: NOW })).toEqual(EXPECTED_PAYLOAD);
  });

  it('hashes exactly the bytes of a Buffer view, not its whole backing store', () => {
    const padded = Buffer.from(`xxxx${BODY}yyyy`);
    const view = padded.subarray(4, 4 + Buffer.byteLength(BODY));
    expect(verifyWebhook(sign(BODY, SECRET), view, SECRET, { now: NOW })).toEqual(EXPECTED_PAYLOAD);
  });

  it('accepts non-ASCII UTF-8 content, signed as a string and verified as bytes', () => {
    const body = JSON.stringify({ ...PAYLOAD, requester_label: 'Zoë 🚀 Ünïcødé' });
    const result = verifyWebhook(sign(body, SECRET), Buffer.from(body, 'utf8'), SECRET, { now: NOW });
    expect(result.requesterLabel).toBe('Zoë 🚀 Ünïcødé');
  });

  it('accepts `now` as epoch milliseconds', () => {
    expect(verifyWebhook(sign(BODY, SECRET), BODY, SECRET, { now: NOW.getTime() })).toEqual(EXPECTED_PAYLOAD);
  });

  it('uses the real clock when `now` is not given', () => {
    const headers = sign(BODY, SECRET, { timestamp: new Date() });
    expect(verifyWebhook(headers, BODY, SECRET).approvalId).toBe('apr_123');
  });

  it('accepts a secret given as a one-element list', () => {
    expect(verifyWebhook(sign(BODY, SECRET), BODY, [SECRET], { now: NOW })).toEqual(EXPECTED_PAYLOAD);
  });

  it('verifies the timestamp header text as received (leading zero kept in the signed content)', () => {
    const ts = `0${NOW_SECONDS}`;
    const headers = { 'webhook-id': WEBHOOK_ID, 'webhook-timestamp': ts, 'webhook-signature': signRaw(SECRET, WEBHOOK_ID, ts, BODY) };
    expect(verifyWebhook(headers, BODY, SECRET, { now: NOW })).toEqual(EXPECTED_PAYLOAD);
  });
});

describe('verifyWebhook: tampering and wrong secrets', () => {
  it('rejects a tampered body', () => {
    const headers = sign(BODY, SECRET);
    expectVerificationError(() => verifyWebhook(headers, BODY.replace('approved', 'denied!'), SECRET, { now: NOW }), 'signature_mismatch');
  });

  it('rejects a body with any single byte changed', () => {
    const headers = sign(BODY, SECRET);
    const bytes = Buffer.from(BODY);
    for (let i = 0; i < bytes.length; i++) {
      const tampered = Buffer.from(bytes);
      tampered[i] ^= 0x01;
      expectVerificationError(() => verifyWebhook(headers, tampered, SECRET, { now: NOW }), 'signature_mismatch');
    }
  });

  it('rejects re-serialized JSON (parsed then stringified with other spacing)', () => {
    const headers = sign(BODY, SECRET);
    const reserialized = JSON.stringify(JSON.parse(BODY), null, 2);
    expect(JSON.parse(reserialized)).toEqual(JSON.parse(BODY));
    expectVerificationError(() => verifyWebhook(headers, reserialized, SECRET, { now: NOW }), 'signature_mismatch');
  });

  it('rejects a body with a trailing newline', () => {
    expectVerificationError(() => verifyWebhook(sign(BODY, SECRET), `${BODY}\n`, SECRET, { now: NOW }), 'signature_mismatch');
  });

  it('rejects a webhook signed with another secret', () => {
    expectVerificationError(() => verifyWebhook(sign(BODY, OTHER_SECRET), BODY, SECRET, { now: NOW }), 'signature_mismatch');
  });

  it('rejects a changed webhook-id (it is part of the signed content)', () => {
    const headers = { ...sign(BODY, SECRET), 'webhook-id': 'msg_other' };
    expectVerificationError(() => verifyWebhook(headers, BODY, SECRET, { now: NOW }), 'signature_mismatch');
  });

  it('rejects a changed timestamp, even within tolerance (it is part of the signed content)', () => {
    const headers = { ...sign(BODY, SECRET), 'webhook-timestamp': String(NOW_SECONDS + 1) };
    expectVerificationError(() => verifyWebhook(headers, BODY, SECRET, { now: NOW }), 'signature_mismatch');
  });

  it('rejects a signature with any base64 character changed', () => {
    const headers = sign(BODY, SECRET);
    const signature = headers['webhook-signature'];
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    // The last data character before "=" carries 2 padding bits that base64 decoding ignores: skip it.
    const lastData = signature.indexOf('=') === -1 ? signature.length - 1 : signature.indexOf('=') - 1;
    for (let i = 3; i < lastData; i++) {
      const replacement = alphabet[(alphabet.indexOf(signature[i]!) + 1) % 64];
      const tampered = signature.slice(0, i) + replacement + signature.slice(i + 1);
      expectVerificationError(() => verifyWebhook({ ...headers, 'webhook-signature': tampered }, BODY, SECRET, { now: NOW }), 'signature_mismatch');
    }
  });

  it('treats a v1 digest of the wrong length as a mismatch, without throwing anything else', () => {
    const headers = sign(BODY, SECRET);
    const full = Buffer.from(headers['webhook-signature'].slice(3), 'base64');
    for (const digest of [full.subarray(0, 16), full.subarray(0, 31), Buffer.concat([full, Buffer.from([0])]), Buffer.alloc(64)]) {
      const tampered = { ...headers, 'webhook-signature': `v1,${digest.toString('base64')}` };
      expectVerificationError(() => verifyWebhook(tampered, BODY, SECRET, { now: NOW }), 'signature_mismatch');
    }
  });

  it('rejects the headers of one webhook replayed with the body of another', () => {
    const other = JSON.stringify({ ...PAYLOAD, approval_id: 'apr_999' });
    expectVerificationError(() => verifyWebhook(sign(BODY, SECRET), other, SECRET, { now: NOW }), 'signature_mismatch');
  });
});

describe('verifyWebhook: several signatures and secret rotation', () => {
  it('passes when one of several signature entries matches', () => {
    const good = sign(BODY, SECRET)['webhook-signature'];
    const bad = sign(BODY, OTHER_SECRET)['webhook-signature'];
    const headers = { ...sign(BODY, SECRET), 'webhook-signature': `${bad} ${good} ${bad}` };
    expect(verifyWebhook(headers, BODY, SECRET, { now: NOW })).toEqual(EXPECTED_PAYLOAD);
  });

  it('passes when the second secret of the list matches', () => {
    expect(verifyWebhook(sign(BODY, SECRET), BODY, [OTHER_SECRET, SECRET], { now: NOW })).toEqual(EXPECTED_PAYLOAD);
  });

  it('passes when the signer signs with two secrets and the receiver knows either one', () => {
    const headers = sign(BODY, [OTHER_SECRET, SECRET]);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(verifyWebhook(headers, BODY, SECRET, { now: NOW })).toEqual(EXPECTED_PAYLOAD);
    expect(verifyWebhook(headers, BODY, OTHER_SECRET, { now: NOW })).toEqual(EXPECTED_PAYLOAD);
    expect(verifyWebhook(headers, BODY, [newSecret(), OTHER_SECRET], { now: NOW })).toEqual(EXPECTED_PAYLOAD);
  });

  it('rejects when no entry matches any of several secrets', () => {
    const headers = sign(BODY, [newSecret(), newSecret()]);
    expectVerificationError(() => verifyWebhook(headers, BODY, [SECRET, OTHER_SECRET], { now: NOW }), 'signature_mismatch');
  });

  it('ignores other signature versions and unparsable entries next to a matching v1 entry', () => {
    const good = sign(BODY, SECRET)['webhook-signature'];
    const digest = good.slice(3);
    const headers = {
      ...sign(BODY, SECRET),
      'webhook-signature': `v1a,${digest} v2,${digest} garbage v1,@@@@ v1, ${good}`,
    };
    expect(verifyWebhook(headers, BODY, SECRET, { now: NOW })).toEqual(EXPECTED_PAYLOAD);
  });

  it('tolerates extra whitespace around and between entries', () => {
    const good = sign(BODY, SECRET)['webhook-signature'];
    const headers = { ...sign(BODY, SECRET), 'webhook-signature': `  v1a,AAAA   \t ${good}  ` };
    expect(verifyWebhook(headers, BODY, SECRET, { now: NOW })).toEqual(EXPECTED_PAYLOAD);
  });
});

describe('verifyWebhook: signature header format', () => {
  const headersWith = (signature: string) => ({ ...sign(BODY, SECRET), 'webhook-signature': signature });

  it.each([
    ['no comma', 'garbage'],
    ['only another version', `v1a,${Buffer.alloc(32).toString('base64')}`],
    ['a future version', `v2,${Buffer.alloc(32).toString('base64')}`],
    ['an upper-case version', `V1,${Buffer.alloc(32).toString('base64')}`],
    ['an empty v1 signature', 'v1,'],
    ['bad base64 characters', 'v1,not*base64!'],
    ['base64url alphabet', 'v1,ab-_ab-_'],
    ['base64 of a bad length', 'v1,abcde'],
    ['misplaced padding', 'v1,ab=c'],
    ['a comma-first entry', ',v1'],
  ])('rejects a header with %s as invalid_signature_header', (_label, signature) => {
    expectVerificationError(() => verifyWebhook(headersWith(signature), BODY, SECRET, { now: NOW }), 'invalid_signature_header');
  });
});

describe('verifyWebhook: missing headers', () => {
  it.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const)('rejects a webhook without %s, naming it', (name) => {
    const headers: Record<string, string> = { ...sign(BODY, SECRET) };
    delete headers[name];
    const error = expectVerificationError(() => verifyWebhook(headers, BODY, SECRET, { now: NOW }), 'missing_header');
    expect(error.message).toContain(name);
  });

  it.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const)('treats an empty %s as missing', (name) => {
    const headers = { ...sign(BODY, SECRET), [name]: '' };
    expect(expectVerificationError(() => verifyWebhook(headers, BODY, SECRET, { now: NOW }), 'missing_header').message).toContain(name);
  });

  it('treats an undefined value and an empty array as missing', () => {
    const headers = sign(BODY, SECRET);
    expectVerificationError(() => verifyWebhook({ ...headers, 'webhook-id': undefined }, BODY, SECRET, { now: NOW }), 'missing_header');
    expectVerificationError(() => verifyWebhook({ ...headers, 'webhook-signature': [] }, BODY, SECRET, { now: NOW }), 'missing_header');
    expectVerificationError(() => verifyWebhook({ ...headers, 'webhook-signature': '   ' }, BODY, SECRET, { now: NOW }), 'missing_header');
  });

  it('names every missing header at once', () => {
    const error = expectVerificationError(() => verifyWebhook({}, BODY, SECRET, { now: NOW }), 'missing_header');
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) expect(error.message).toContain(name);
  });
});

describe('verifyWebhook: timestamp format', () => {
  it.each([
    ['trailing junk', `${NOW_SECONDS}abc`],
    ['a plus sign', `+${NOW_SECONDS}`],
    ['a negative number', '-5'],
    ['a fraction', '1.5'],
    ['seconds with a fraction', `${NOW_SECONDS}.0`],
    ['milliseconds', String(NOW.getTime())],
    ['a leading space', ` ${NOW_SECONDS}`],
    ['a trailing space', `${NOW_SECONDS} `],
    ['exponent notation', '1.7e9'],
    ['hex', '0x6632'],
    ['an ISO date', NOW.toISOString()],
    ['non-ASCII digits', '١٧٠٠٠٠٠٠٠٠'],
    ['whitespace only', ' '],
  ])('rejects a timestamp with %s as invalid_timestamp', (_label, timestamp) => {
    const headers = { ...sign(BODY, SECRET), 'webhook-timestamp': timestamp };
    expectVerificationError(() => verifyWebhook(headers, BODY, SECRET, { now: NOW }), 'invalid_timestamp');
  });

  it('rejects an empty timestamp as missing', () => {
    const headers = { ...sign(BODY, SECRET), 'webhook-timestamp': '' };
    expectVerificationError(() => verifyWebhook(headers, BODY, SECRET, { now: NOW }), 'missing_header');
  });
});

describe('verifyWebhook: timestamp tolerance', () => {
  const tolerance = DEFAULT_WEBHOOK_TOLERANCE_MS / 1000;

  it('defaults to 5 minutes', () => {
    expect(DEFAULT_WEBHOOK_TOLERANCE_MS).toBe(300_000);
  });

  it('accepts a webhook exactly at, and just inside, the tolerance on both sides', () => {
    for (const offset of [-tolerance, -tolerance + 1, tolerance - 1, tolerance]) {
      expect(verifyWebhook(sign(BODY, SECRET, { timestamp: at(offset) }), BODY, SECRET, { now: NOW })).toEqual(EXPECTED_PAYLOAD);
    }
  });

  it('rejects a stale webhook as timestamp_too_old', () => {
    for (const offset of [-tolerance - 1, -3600, -NOW_SECONDS]) {
      expectVerificationError(() => verifyWebhook(sign(BODY, SECRET, { timestamp: at(offset) }), BODY, SECRET, { now: NOW }), 'timestamp_too_old');
    }
  });

  it('rejects a future-dated webhook as timestamp_too_new', () => {
    for (const offset of [tolerance + 1, 86_400]) {
      expectVerificationError(() => verifyWebhook(sign(BODY, SECRET, { timestamp: at(offset) }), BODY, SECRET, { now: NOW }), 'timestamp_too_new');
    }
  });

  it('checks the timestamp against the millisecond clock', () => {
    const headers = sign(BODY, SECRET, { timestamp: at(-tolerance) });
    expect(verifyWebhook(headers, BODY, SECRET, { now: NOW.getTime() }).approvalId).toBe('apr_123');
    expectVerificationError(() => verifyWebhook(headers, BODY, SECRET, { now: NOW.getTime() + 1 }), 'timestamp_too_old');
  });

  it('honours a custom tolerance', () => {
    const options = { now: NOW, tolerance: 10_000 };
    expect(verifyWebhook(sign(BODY, SECRET, { timestamp: at(-10) }), BODY, SECRET, options)).toEqual(EXPECTED_PAYLOAD);
    expect(verifyWebhook(sign(BODY, SECRET, { timestamp: at(10) }), BODY, SECRET, options)).toEqual(EXPECTED_PAYLOAD);
    expectVerificationError(() => verifyWebhook(sign(BODY, SECRET, { timestamp: at(-11) }), BODY, SECRET, options), 'timestamp_too_old');
    expectVerificationError(() => verifyWebhook(sign(BODY, SECRET, { timestamp: at(11) }), BODY, SECRET, options), 'timestamp_too_new');
    // A wider tolerance accepts what the default refuses.
    const old = sign(BODY, SECRET, { timestamp: at(-3600) });
    expect(verifyWebhook(old, BODY, SECRET, { now: NOW, tolerance: 3_600_000 })).toEqual(EXPECTED_PAYLOAD);
  });

  it('with a zero tolerance accepts only the current second', () => {
    expect(verifyWebhook(sign(BODY, SECRET), BODY, SECRET, { now: NOW, tolerance: 0 })).toEqual(EXPECTED_PAYLOAD);
    expectVerificationError(() => verifyWebhook(sign(BODY, SECRET, { timestamp: at(-1) }), BODY, SECRET, { now: NOW, tolerance: 0 }), 'timestamp_too_old');
  });

  it('checks the timestamp before the signature', () => {
    const stale = sign(BODY, OTHER_SECRET, { timestamp: at(-3600) });
    expectVerificationError(() => verifyWebhook(stale, BODY, SECRET, { now: NOW }), 'timestamp_too_old');
  });
});

describe('verifyWebhook: body', () => {
  it.each([
    ['plain text', 'not json'],
    ['an empty body', ''],
    ['truncated JSON', BODY.slice(0, -1)],
    ['two JSON documents', `${BODY}${BODY}`],
    ['a byte-order mark in a string body', `\uFEFF${BODY}`],
  ])('rejects a validly signed body with %s as invalid_body', (_label, body) => {
    const error = expectVerificationError(() => verifyWebhook(sign(body, SECRET), body, SECRET, { now: NOW }), 'invalid_body');
    expect(error).not.toBeInstanceOf(SyntaxError);
  });

  it.each([
    ['invalid bytes', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])],
    ['a truncated multi-byte sequence', Buffer.concat([Buffer.from(BODY.slice(0, -2)), Buffer.from([0xc3])])],
    ['an overlong encoding', Buffer.from([0x22, 0xc0, 0xaf, 0x22])],
    ['a lone surrogate (CESU-8)', Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22])],
    ['Latin-1 text', Buffer.from(JSON.stringify({ ...PAYLOAD, requester_label: 'Zoë' }), 'latin1')],
  ])('rejects a validly signed non-UTF-8 body with %s as invalid_body', (_label, body) => {
    expectVerificationError(() => verifyWebhook(sign(body, SECRET), body, SECRET, { now: NOW }), 'invalid_body');
  });

  it('does not parse the body before the signature matched', () => {
    expectVerificationError(() => verifyWebhook(sign(BODY, SECRET), 'not json', SECRET, { now: NOW }), 'signature_mismatch');
    expectVerificationError(() => verifyWebhook(sign(BODY, SECRET), Buffer.from([0xff]), SECRET, { now: NOW }), 'signature_mismatch');
  });

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a parsed object (body parser ran first)', { ...PAYLOAD }],
    ['a number', 42],
    ['an ArrayBuffer', new ArrayBuffer(4)],
    ['an array of bytes', [0x7b, 0x7d]],
  ])('rejects %s as the raw body with invalid_body', (_label, body) => {
    const error = expectVerificationError(() => verifyWebhook(sign(BODY, SECRET), body as unknown as string, SECRET, { now: NOW }), 'invalid_body');
    expect(error.message).toMatch(/raw request body/);
  });
});

describe('verifyWebhook: payload shape', () => {
  const bodyWith = (patch: Record<string, unknown>) => JSON.stringify({ ...PAYLOAD, ...patch });
  const without = (field: keyof typeof PAYLOAD) => {
    const copy: Record<string, unknown> = { ...PAYLOAD };
    delete copy[field];
    return JSON.stringify(copy);
  };
  const verify = (body: string) => verifyWebhook(sign(body, SECRET), body, SECRET, { now: NOW });

  it.each([
    ['an array', JSON.stringify([PAYLOAD])],
    ['null', 'null'],
    ['a string', '"apr_123"'],
    ['a number', '42'],
    ['true', 'true'],
    ['an unknown status', bodyWith({ status: 'pending' })],
    ['an upper-case status', bodyWith({ status: 'APPROVED' })],
    ['a non-string status', bodyWith({ status: 1 })],
    ['a missing status', without('status')],
    ['a missing approval_id', without('approval_id')],
    ['an empty approval_id', bodyWith({ approval_id: '' })],
    ['a numeric approval_id', bodyWith({ approval_id: 123 })],
    ['a missing action', without('action')],
    ['a null action', bodyWith({ action: null })],
    ['an object action', bodyWith({ action: { name: 'x' } })],
    ['a missing decided_at', without('decided_at')],
    ['an unparsable decided_at', bodyWith({ decided_at: 'yesterday-ish' })],
    ['a numeric decided_at', bodyWith({ decided_at: 1714564770000 })],
    ['a null decided_at', bodyWith({ decided_at: null })],
    ['a numeric requester_label', bodyWith({ requester_label: 7 })],
    ['an array requester_label', bodyWith({ requester_label: ['a'] })],
    ['a boolean dedup_key', bodyWith({ dedup_key: false })],
    ['an object dedup_key', bodyWith({ dedup_key: {} })],
    ['fields only under __proto__', `{"__proto__":${BODY}}`],
  ])('rejects a validly signed payload with %s as invalid_payload', (_label, body) => {
    expectVerificationError(() => verify(body), 'invalid_payload');
  });

  it('maps an absent requester_label and dedup_key to null', () => {
    const copy: Record<string, unknown> = { ...PAYLOAD };
    delete copy.requester_label;
    delete copy.dedup_key;
    expect(verify(JSON.stringify(copy))).toEqual({ ...EXPECTED_PAYLOAD, requesterLabel: null, dedupKey: null });
  });

  it('reads own fields only, so a polluted Object.prototype cannot fill in missing ones', () => {
    const copy: Record<string, unknown> = { ...PAYLOAD };
    delete copy.requester_label;
    const proto = Object.prototype as Record<string, unknown>;
    proto.requester_label = 'injected';
    try {
      expect(verify(JSON.stringify(copy)).requesterLabel).toBeNull();
    } finally {
      delete proto.requester_label;
    }
  });

  it('keeps explicit nulls as null', () => {
    expect(verify(bodyWith({ requester_label: null, dedup_key: null }))).toEqual({ ...EXPECTED_PAYLOAD, requesterLabel: null, dedupKey: null });
  });

  it.each(['denied', 'expired'] as const)('accepts status %s', (status) => {
    expect(verify(bodyWith({ status })).status).toBe(status);
  });

  it('accepts an empty action and ignores unknown fields (forward compatible)', () => {
    expect(verify(bodyWith({ action: '', comment: 'lgtm', extra: { nested: true } }))).toEqual({ ...EXPECTED_PAYLOAD, action: '' });
  });

  it('returns exactly the documented keys', () => {
    expect(Object.keys(verify(bodyWith({ extra: 1 }))).sort()).toEqual(['action', 'approvalId', 'decidedAt', 'dedupKey', 'requesterLabel', 'status', 'webhookId'].sort());
  });

  it('parses decided_at with an offset into the same instant', () => {
    expect(verify(bodyWith({ decided_at: '2024-05-01T13:59:30+02:00' })).decidedAt.toISOString()).toBe('2024-05-01T11:59:30.000Z');
  });
});

describe('verifyWebhook: secrets and options', () => {
  it.each([
    ['an empty list', []],
    ['an empty string', ''],
    ['a secret without the whsec_ prefix', 'not-a-secret'],
    ['a whsec_ secret with bad base64', 'whsec_@@@@topsecretvalue'],
    ['undefined (unset environment variable)', undefined],
    ['null', null],
    ['a number', 42],
    ['a list holding a non-string', [42]],
  ])('rejects %s as invalid_secret', (_label, secret) => {
    const error = expectVerificationError(() => verifyWebhook(sign(BODY, SECRET), BODY, secret as unknown as string, { now: NOW }), 'invalid_secret');
    expect(error.message).not.toContain('topsecretvalue');
  });

  it('rejects a list with one malformed secret even if another would match', () => {
    const error = expectVerificationError(() => verifyWebhook(sign(BODY, SECRET), BODY, [SECRET, 'whsec_bad!secretvalue'], { now: NOW }), 'invalid_secret');
    expect(error.message).not.toContain('bad!secretvalue');
  });

  it('reports a bad secret before looking at the request', () => {
    expectVerificationError(() => verifyWebhook({}, 'x', 'nope', { now: NOW }), 'invalid_secret');
  });

  it.each([
    ['a NaN tolerance', { tolerance: NaN }],
    ['a negative tolerance', { tolerance: -1 }],
    ['an infinite tolerance', { tolerance: Infinity }],
    ['a string tolerance', { tolerance: '300000' }],
    ['an invalid Date', { now: new Date('not a date') }],
    ['a NaN now', { now: NaN }],
    ['a string now', { now: NOW.toISOString() }],
    ['an object posing as a Date', { now: { [Symbol.toStringTag]: 'Date', getTime: () => NOW.getTime() } }],
  ])('rejects %s as invalid_options instead of skipping the replay check', (_label, options) => {
    expectVerificationError(() => verifyWebhook(sign(BODY, SECRET), BODY, SECRET, options as never), 'invalid_options');
  });

  it('treats null options as the defaults', () => {
    const headers = sign(BODY, SECRET, { timestamp: new Date() });
    expect(verifyWebhook(headers, BODY, SECRET, null as never).approvalId).toBe('apr_123');
  });
});

describe('verifyWebhook: never leaks, never throws anything else', () => {
  it('keeps the secret and the expected signature out of every error message', () => {
    const headers = sign(BODY, SECRET);
    const failures = [
      () => verifyWebhook(headers, `${BODY} `, SECRET, { now: NOW }),
      () => verifyWebhook(headers, BODY, OTHER_SECRET, { now: NOW }),
      () => verifyWebhook({ ...headers, 'webhook-signature': 'v1,zzzz' }, BODY, SECRET, { now: NOW }),
      () => verifyWebhook(headers, BODY, SECRET, { now: at(3600) }),
      () => verifyWebhook(headers, BODY, [SECRET, `${SECRET}!`], { now: NOW }),
    ];
    for (const failure of failures) {
      try {
        failure();
        throw new Error('expected a failure');
      } catch (error) {
        expect(error).toBeInstanceOf(WebhookVerificationError);
        const text = `${(error as Error).message}\n${(error as Error).stack}\n${JSON.stringify(error)}`;
        expect(text).not.toContain(SECRET);
        expect(text).not.toContain(SECRET.slice(6));
        expect(text).not.toContain(headers['webhook-signature'].slice(3));
        assertNoLeak(text);
      }
    }
  });

  it('throws only WebhookVerificationError for junk input of every kind', () => {
    const valid = sign(BODY, SECRET);
    const junkHeaders: unknown[] = [
      null,
      undefined,
      42,
      'webhook-id: x',
      [],
      [['webhook-id', WEBHOOK_ID]],
      Symbol('h'),
      () => undefined,
      { get: 'not a function' },
      { get: () => 42 },
      { get: () => ['a', 1] },
      { get: () => ({}) },
      { ...valid, 'webhook-id': 42 },
      { ...valid, 'webhook-id': { toString: () => WEBHOOK_ID } },
      { ...valid, 'webhook-id': [WEBHOOK_ID, 7] },
      { ...valid, 'webhook-timestamp': NOW_SECONDS },
      { ...valid, 'webhook-timestamp': [null] },
      { ...valid, 'webhook-timestamp': true },
      { ...valid, 'webhook-signature': 1 },
      { ...valid, 'webhook-signature': [valid['webhook-signature'], {}] },
      { ...valid, 'webhook-signature': Buffer.from(valid['webhook-signature']) },
      { ...valid, 'webhook-signature': 'v1,' + 'A'.repeat(100_000) },
      { ...valid, 'webhook-signature': ' '.repeat(10_000) + ','.repeat(10_000) },
    ];
    const junkBodies: unknown[] = [null, undefined, 0, {}, [], new ArrayBuffer(0), Symbol('b'), BODY];
    let count = 0;
    for (const headers of junkHeaders) {
      for (const body of junkBodies) {
        try {
          verifyWebhook(headers as never, body as never, SECRET, { now: NOW });
        } catch (error) {
          expect(error).toBeInstanceOf(WebhookVerificationError);
          assertNoLeak((error as Error).message);
          count++;
          continue;
        }
        throw new Error('junk input was accepted');
      }
    }
    expect(count).toBe(junkHeaders.length * junkBodies.length);
  });
});
