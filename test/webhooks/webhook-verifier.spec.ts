import { inspect } from 'node:util';
import { verifyWebhook } from '../../lib/webhooks/verify-webhook.js';
import { DEFAULT_WEBHOOK_TOLERANCE_MS, WebhookVerifier } from '../../lib/webhooks/webhook-verifier.js';
import { BODY, EXPECTED_PAYLOAD, NOW, NOW_SECONDS, PAYLOAD, at, expectVerificationError, newSecret, sign } from './webhook-test-kit.js';

const SECRET = newSecret();
const OTHER_SECRET = newSecret();

describe('WebhookVerifier: construction', () => {
  it.each([
    ['an empty list', []],
    ['an empty string', ''],
    ['a secret without the whsec_ prefix', 'not-a-secret'],
    ['a whsec_ secret with bad base64', 'whsec_@@@@topsecretvalue'],
    ['a whsec_ prefix alone', 'whsec_'],
    ['undefined (unset environment variable)', undefined],
    ['null', null],
    ['a number', 42],
    ['a list holding a non-string', [42]],
    ['a list with one malformed secret next to a good one', [SECRET, 'whsec_bad!secretvalue']],
  ])('rejects %s as invalid_secret, naming no secret', (_label, secret) => {
    const error = expectVerificationError(() => new WebhookVerifier(secret as unknown as string), 'invalid_secret');
    expect(error.message).not.toContain('topsecretvalue');
    expect(error.message).not.toContain('secretvalue');
  });

  it.each([
    ['a NaN tolerance', { tolerance: NaN }],
    ['a negative tolerance', { tolerance: -1 }],
    ['an infinite tolerance', { tolerance: Infinity }],
    ['a string tolerance', { tolerance: '300000' }],
    ['a null tolerance', { tolerance: null }],
  ])('rejects %s as invalid_options', (_label, options) => {
    expectVerificationError(() => new WebhookVerifier(SECRET, options as never), 'invalid_options');
  });

  it('reports a bad secret before a bad tolerance, as verifyWebhook does', () => {
    expectVerificationError(() => new WebhookVerifier('nope', { tolerance: NaN }), 'invalid_secret');
    expectVerificationError(() => verifyWebhook({}, BODY, 'nope', { tolerance: NaN }), 'invalid_secret');
  });

  it('defaults the tolerance to 5 minutes, also for null options, and keeps a given one', () => {
    expect(new WebhookVerifier(SECRET).tolerance).toBe(DEFAULT_WEBHOOK_TOLERANCE_MS);
    expect(new WebhookVerifier(SECRET, null as never).tolerance).toBe(DEFAULT_WEBHOOK_TOLERANCE_MS);
    expect(new WebhookVerifier(SECRET, { tolerance: undefined }).tolerance).toBe(DEFAULT_WEBHOOK_TOLERANCE_MS);
    expect(new WebhookVerifier(SECRET, { tolerance: 0 }).tolerance).toBe(0);
    expect(new WebhookVerifier(SECRET, { tolerance: 10_000 }).tolerance).toBe(10_000);
  });

  it('decodes the secrets once: changing the list afterwards changes nothing', () => {
    const secrets = [OTHER_SECRET];
    const verifier = new WebhookVerifier(secrets);
    secrets[0] = SECRET;
    secrets.push(SECRET);
    expect(verifier.verify(sign(BODY, OTHER_SECRET), BODY, { now: NOW })).toEqual(EXPECTED_PAYLOAD);
    expectVerificationError(() => verifier.verify(sign(BODY, SECRET), BODY, { now: NOW }), 'signature_mismatch');
  });
});

describe('WebhookVerifier: verify', () => {
  const verifier = new WebhookVerifier(SECRET);

  it.each([
    ['a string body', BODY],
    ['a Buffer body', Buffer.from(BODY)],
    ['a plain Uint8Array body', new Uint8Array(Buffer.from(BODY))],
    ['a Buffer view into a larger store', Buffer.from(`xx${BODY}yy`).subarray(2, 2 + Buffer.byteLength(BODY))],
  ])('returns what verifyWebhook returns for %s', (_label, body) => {
    const headers = sign(BODY, SECRET);
    const result = verifier.verify(headers, body, { now: NOW });
    expect(result).toEqual(EXPECTED_PAYLOAD);
    expect(result.decidedAt).toBeInstanceOf(Date);
    expect(result).toEqual(verifyWebhook(headers, body, SECRET, { now: NOW }));
  });

  it('verifies many webhooks with one instance, unaffected by failures in between', () => {
    for (let i = 0; i < 20; i++) {
      const body = JSON.stringify({ ...PAYLOAD, approval_id: `apr_${i}` });
      const headers = sign(body, SECRET, { id: `msg_${i}` });
      expect(verifier.verify(headers, body, { now: NOW })).toEqual({ ...EXPECTED_PAYLOAD, approvalId: `apr_${i}`, webhookId: `msg_${i}` });
      expectVerificationError(() => verifier.verify(headers, `${body} `, { now: NOW }), 'signature_mismatch');
    }
  });

  // Each row breaks one thing; the verifier must fail exactly as verifyWebhook does.
  const good = sign(BODY, SECRET);
  const digest = good['webhook-signature'].slice('v1,'.length);
  it.each([
    ['no headers', {}, BODY, 'missing_header'],
    ['a tampered body', good, BODY.replace('approved', 'denied!'), 'signature_mismatch'],
    ['another secret', sign(BODY, OTHER_SECRET), BODY, 'signature_mismatch'],
    ['a digest of the wrong length', { ...good, 'webhook-signature': `v1,${digest.slice(0, 20)}AA==` }, BODY, 'signature_mismatch'],
    ['no v1 entry', { ...good, 'webhook-signature': `v2,${digest}` }, BODY, 'invalid_signature_header'],
    ['bad base64', { ...good, 'webhook-signature': 'v1,not*base64!' }, BODY, 'invalid_signature_header'],
    ['a stale timestamp', sign(BODY, SECRET, { timestamp: at(-301) }), BODY, 'timestamp_too_old'],
    ['a future timestamp', sign(BODY, SECRET, { timestamp: at(301) }), BODY, 'timestamp_too_new'],
    ['a millisecond timestamp', { ...good, 'webhook-timestamp': String(NOW.getTime()) }, BODY, 'invalid_timestamp'],
    ['conflicting ids', { ...good, 'Webhook-Id': 'msg_other' }, BODY, 'invalid_header'],
    ['a parsed body', good, { ...PAYLOAD }, 'invalid_body'],
    ['invalid UTF-8', sign(Buffer.from([0x7b, 0xff, 0x7d]), SECRET), Buffer.from([0x7b, 0xff, 0x7d]), 'invalid_body'],
    ['a signed non-object', sign('[]', SECRET), '[]', 'invalid_payload'],
  ] as const)('refuses %s with the same code as verifyWebhook', (_label, headers, body, code) => {
    expectVerificationError(() => verifier.verify(headers, body as never, { now: NOW }), code);
    expectVerificationError(() => verifyWebhook(headers, body as never, SECRET, { now: NOW }), code);
  });
});

describe('WebhookVerifier: comparing signatures', () => {
  const verifier = new WebhookVerifier(SECRET);
  const good = sign(BODY, SECRET);

  it('compares whole characters: one that differs only above the low byte does not match', () => {
    const signature = good['webhook-signature'];
    // U+0100 plus the code of the last digit: the same low byte, so a byte-truncating comparison would pass it.
    const lookalike = signature.slice(0, -2) + String.fromCharCode(0x100 + signature.charCodeAt(signature.length - 2)) + signature.slice(-1);
    expect(lookalike).toHaveLength(signature.length);
    expectVerificationError(() => verifier.verify({ ...good, 'webhook-signature': lookalike }, BODY, { now: NOW }), 'invalid_signature_header');
    expectVerificationError(
      () => verifier.verify({ ...good, 'webhook-signature': `${lookalike} ${sign(BODY, OTHER_SECRET)['webhook-signature']}` }, BODY, { now: NOW }),
      'signature_mismatch',
    );
  });

  it('needs the v1 prefix as part of the match: the right digest alone is no signature', () => {
    const digest = good['webhook-signature'].slice('v1,'.length);
    expectVerificationError(() => verifier.verify({ ...good, 'webhook-signature': digest }, BODY, { now: NOW }), 'invalid_signature_header');
  });
});

describe('WebhookVerifier: secret rotation', () => {
  const rotating = new WebhookVerifier([OTHER_SECRET, SECRET]);

  it('accepts webhooks signed with either secret of its list', () => {
    expect(rotating.verify(sign(BODY, SECRET), BODY, { now: NOW })).toEqual(EXPECTED_PAYLOAD);
    expect(rotating.verify(sign(BODY, OTHER_SECRET), BODY, { now: NOW })).toEqual(EXPECTED_PAYLOAD);
  });

  it('accepts a webhook signed with both, and one whose matching entry sits among others', () => {
    expect(rotating.verify(sign(BODY, [SECRET, OTHER_SECRET]), BODY, { now: NOW })).toEqual(EXPECTED_PAYLOAD);
    const stranger = sign(BODY, newSecret())['webhook-signature'];
    const headers = { ...sign(BODY, SECRET), 'webhook-signature': `${stranger} v1a,xyz ${sign(BODY, OTHER_SECRET)['webhook-signature']}` };
    expect(rotating.verify(headers, BODY, { now: NOW })).toEqual(EXPECTED_PAYLOAD);
  });

  it('refuses a webhook signed only with a secret outside its list', () => {
    expectVerificationError(() => rotating.verify(sign(BODY, [newSecret(), newSecret()]), BODY, { now: NOW }), 'signature_mismatch');
  });

  it('accepts only the canonical encoding of a digest, whichever secret matches', () => {
    const canonical = sign(BODY, OTHER_SECRET)['webhook-signature'];
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    // 32 bytes = 43 digits + '='; the 4 low bits of the 43rd digit are padding: bump them.
    const last = canonical[3 + 42];
    const variant = `${canonical.slice(0, 3 + 42)}${alphabet[alphabet.indexOf(last) + 1]}=`;
    expect(Buffer.from(variant.slice(3), 'base64').equals(Buffer.from(canonical.slice(3), 'base64'))).toBe(true);
    const headers = { ...sign(BODY, SECRET), 'webhook-signature': variant };
    expectVerificationError(() => rotating.verify(headers, BODY, { now: NOW }), 'invalid_signature_header');
  });
});

describe('WebhookVerifier: the clock', () => {
  const verifier = new WebhookVerifier(SECRET, { tolerance: 10_000 });

  it('accepts `now` as a Date or as epoch milliseconds, and applies its own tolerance', () => {
    const headers = sign(BODY, SECRET, { timestamp: at(-10) });
    expect(verifier.verify(headers, BODY, { now: NOW })).toEqual(EXPECTED_PAYLOAD);
    expect(verifier.verify(headers, BODY, { now: NOW.getTime() })).toEqual(EXPECTED_PAYLOAD);
    expectVerificationError(() => verifier.verify(headers, BODY, { now: NOW.getTime() + 1 }), 'timestamp_too_old');
    expectVerificationError(() => verifier.verify(sign(BODY, SECRET, { timestamp: at(11) }), BODY, { now: NOW }), 'timestamp_too_new');
  });

  it('uses the real clock without `now` (also for empty or null options)', () => {
    const headers = sign(BODY, SECRET, { timestamp: new Date() });
    expect(verifier.verify(headers, BODY).approvalId).toBe('apr_123');
    expect(verifier.verify(headers, BODY, {}).approvalId).toBe('apr_123');
    expect(verifier.verify(headers, BODY, null as never).approvalId).toBe('apr_123');
    // The fixed test clock is long past: the real clock refuses it.
    expectVerificationError(() => verifier.verify(sign(BODY, SECRET), BODY), 'timestamp_too_old');
  });

  it.each([
    ['an invalid Date', new Date('not a date')],
    ['NaN', NaN],
    ['an ISO string', NOW.toISOString()],
    ['an object posing as a Date', { [Symbol.toStringTag]: 'Date', getTime: () => NOW.getTime() }],
  ])('rejects %s as `now` with invalid_options instead of skipping the replay check', (_label, now) => {
    expectVerificationError(() => verifier.verify(sign(BODY, SECRET), BODY, { now: now as never }), 'invalid_options');
  });

  it('checks the timestamp against `now` to the second it was signed', () => {
    const exact = new WebhookVerifier(SECRET, { tolerance: 0 });
    expect(exact.verify(sign(BODY, SECRET), BODY, { now: NOW_SECONDS * 1000 })).toEqual(EXPECTED_PAYLOAD);
    expectVerificationError(() => exact.verify(sign(BODY, SECRET), BODY, { now: NOW_SECONDS * 1000 + 1 }), 'timestamp_too_old');
  });
});

describe('WebhookVerifier: secrecy', () => {
  it('shows no secret or key bytes when inspected, serialised or listed', () => {
    const secrets = [SECRET, OTHER_SECRET];
    const verifier = new WebhookVerifier(secrets, { tolerance: 60_000 });
    const views = [
      inspect(verifier),
      inspect(verifier, { showHidden: true, depth: Infinity, getters: true }),
      JSON.stringify(verifier),
      String(verifier),
      `${Reflect.ownKeys(verifier).map(String).join(',')}`,
    ];
    for (const view of views) {
      for (const secret of secrets) {
        const encoded = secret.slice('whsec_'.length);
        expect(view).not.toContain(encoded);
        expect(view).not.toContain(Buffer.from(encoded, 'base64').toString('hex').slice(0, 8));
      }
      // A key shown as bytes would read <Buffer ...> or Uint8Array(...).
      expect(view).not.toMatch(/Buffer|Uint8Array/);
    }
    expect(inspect(verifier)).toContain('WebhookVerifier');
    expect(JSON.parse(views[2]!)).toEqual({ tolerance: 60_000 });
  });

  it('never puts a secret or a signature into an error', () => {
    const verifier = new WebhookVerifier(SECRET);
    const headers = sign(BODY, SECRET);
    const attempts = [
      [() => verifier.verify(headers, `${BODY} `, { now: NOW }), 'signature_mismatch'],
      [() => verifier.verify({ ...headers, 'webhook-signature': 'v1,zzzz' }, BODY, { now: NOW }), 'signature_mismatch'],
      [() => verifier.verify(headers, BODY, { now: at(3600) }), 'timestamp_too_old'],
    ] as const;
    for (const [attempt, code] of attempts) {
      // expectVerificationError also checks message and stack against every secret and signature the kit made.
      const error = expectVerificationError(attempt, code);
      expect(JSON.stringify(error)).not.toContain(SECRET.slice('whsec_'.length));
      expect(inspect(error, { showHidden: true })).not.toContain(headers['webhook-signature'].slice(3));
    }
  });
});
