import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook } from '../../lib/webhooks/verify-webhook.js';
import { readWebhookHeaders, WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER } from '../../lib/webhooks/webhook-headers.js';
import { BODY, NOW, NOW_SECONDS, WEBHOOK_ID, expectVerificationError, newSecret, sign } from './webhook-test-kit.js';

const SECRET = newSecret();
const OTHER_SECRET = newSecret();
const signed = sign(BODY, SECRET);
const GOOD = signed['webhook-signature'];
const BAD = sign(BODY, OTHER_SECRET)['webhook-signature'];
const TS = signed['webhook-timestamp'];

const verify = (headers: Parameters<typeof verifyWebhook>[0]) => verifyWebhook(headers, BODY, SECRET, { now: NOW });

describe('readWebhookHeaders', () => {
  it('exports the header names', () => {
    expect([WEBHOOK_ID_HEADER, WEBHOOK_TIMESTAMP_HEADER, WEBHOOK_SIGNATURE_HEADER]).toEqual(['webhook-id', 'webhook-timestamp', 'webhook-signature']);
  });

  it('returns the id, the timestamp text and every signature entry', () => {
    expect(readWebhookHeaders({ ...signed, 'webhook-signature': `${BAD} ${GOOD}` })).toEqual({
      id: WEBHOOK_ID,
      timestamp: String(NOW_SECONDS),
      signatures: [BAD, GOOD],
    });
  });

  it('splits array elements and ", "-joined repeats into entries', () => {
    expect(readWebhookHeaders({ ...signed, 'webhook-signature': [`v1,a v1,b, v1,c`, 'v1a,d'] }).signatures).toEqual(['v1,a', 'v1,b', 'v1,c', 'v1a,d']);
  });

  it('ignores unrelated headers and look-alike names', () => {
    const headers = { ...signed, 'x-webhook-id': 'evil', 'webhook-id-2': 'evil', 'content-type': 'application/json' };
    expect(readWebhookHeaders(headers).id).toBe(WEBHOOK_ID);
  });
});

describe('readWebhookHeaders: the usual shape and its neighbours', () => {
  // The shape nearly every request has (a plain object, each name once, one plain string), and the shapes next to it.
  it('reads the usual shape, ignoring the other headers Node adds', () => {
    const headers = { host: '127.0.0.1', 'user-agent': 'broker', connection: 'keep-alive', 'content-type': 'application/json', ...signed };
    expect(readWebhookHeaders(headers)).toEqual({ id: WEBHOOK_ID, timestamp: TS, signatures: [GOOD] });
  });

  it('lets a second casing with a value fill in for an undefined or null first one', () => {
    expect(readWebhookHeaders({ ...signed, 'webhook-id': undefined, 'Webhook-Id': WEBHOOK_ID }).id).toBe(WEBHOOK_ID);
    expect(readWebhookHeaders({ ...signed, 'webhook-id': null, 'WEBHOOK-ID': WEBHOOK_ID } as never).id).toBe(WEBHOOK_ID);
  });

  it('splits a single signature value on any whitespace, Unicode spaces included', () => {
    expect(readWebhookHeaders({ ...signed, 'webhook-signature': `${BAD}\t${GOOD}` }).signatures).toEqual([BAD, GOOD]);
    expect(readWebhookHeaders({ ...signed, 'webhook-signature': `${BAD}\u00a0${GOOD}` }).signatures).toEqual([BAD, GOOD]);
    expect(readWebhookHeaders({ ...signed, 'webhook-signature': `${GOOD}\u2028` }).signatures).toEqual([GOOD]);
  });

  it('does not read header names inherited from the prototype', () => {
    const headers = Object.assign(Object.create({ 'webhook-id': 'msg_inherited' }) as Record<string, string>, {
      'webhook-timestamp': TS,
      'webhook-signature': GOOD,
    });
    expect(expectVerificationError(() => readWebhookHeaders(headers), 'missing_header').message).toContain('webhook-id');
  });

  it('reads a `get` property that is not a function as an ordinary header', () => {
    expect(readWebhookHeaders({ ...signed, get: 'x' } as never)).toEqual({ id: WEBHOOK_ID, timestamp: TS, signatures: [GOOD] });
  });

  it('names missing headers before refusing a non-string one', () => {
    const error = expectVerificationError(() => readWebhookHeaders({ 'webhook-id': 42, 'webhook-signature': GOOD } as never), 'missing_header');
    expect(error.message).toContain('webhook-timestamp');
    expect(error.message).not.toContain('webhook-id');
  });

  it('treats an identical value repeated in every form (array items, ", "-joined, another casing) as one', () => {
    const headers = { ...signed, 'webhook-id': [WEBHOOK_ID, `${WEBHOOK_ID}, ${WEBHOOK_ID}`], 'Webhook-Id': WEBHOOK_ID };
    expect(readWebhookHeaders(headers).id).toBe(WEBHOOK_ID);
  });

  it('treats repeats that are all empty as missing, in every form (array items, ", "-joined, fetch-appended)', () => {
    for (const id of [['', ''], ', ', ', , ']) {
      expect(expectVerificationError(() => readWebhookHeaders({ ...signed, 'webhook-id': id }), 'missing_header').message).toContain('webhook-id');
    }
    const headers = new Headers({ ...signed });
    headers.set('webhook-timestamp', '');
    headers.append('webhook-timestamp', '');
    expect(headers.get('webhook-timestamp')).toBe(', ');
    expect(expectVerificationError(() => readWebhookHeaders(headers), 'missing_header').message).toContain('webhook-timestamp');
  });

  it('reads nothing from a value that is not an object', () => {
    for (const headers of [null, undefined, 'webhook-id: x', 42]) {
      const error = expectVerificationError(() => readWebhookHeaders(headers as never), 'missing_header');
      for (const name of [WEBHOOK_ID_HEADER, WEBHOOK_TIMESTAMP_HEADER, WEBHOOK_SIGNATURE_HEADER]) expect(error.message).toContain(name);
    }
  });
});

describe('verifyWebhook: header name case', () => {
  it.each([
    ['Title-Case', { 'Webhook-Id': WEBHOOK_ID, 'Webhook-Timestamp': TS, 'Webhook-Signature': GOOD }],
    ['UPPER-CASE', { 'WEBHOOK-ID': WEBHOOK_ID, 'WEBHOOK-TIMESTAMP': TS, 'WEBHOOK-SIGNATURE': GOOD }],
    ['mixed', { 'wEbHoOk-Id': WEBHOOK_ID, 'webhook-TIMESTAMP': TS, 'Webhook-signature': GOOD }],
  ])('accepts %s header names in a plain object', (_label, headers) => {
    expect(verify(headers).webhookId).toBe(WEBHOOK_ID);
  });

  it('treats two casings of one name as a repeat: identical is fine, different is refused', () => {
    expect(verify({ ...signed, 'Webhook-Id': WEBHOOK_ID }).webhookId).toBe(WEBHOOK_ID);
    expectVerificationError(() => verify({ ...signed, 'Webhook-Id': 'msg_evil' }), 'invalid_header');
    expectVerificationError(() => verify({ ...signed, 'WEBHOOK-TIMESTAMP': String(NOW_SECONDS - 1) }), 'invalid_timestamp');
    // A second casing of the signature header just adds entries.
    expect(verify({ ...signed, 'webhook-signature': BAD, 'Webhook-Signature': GOOD }).webhookId).toBe(WEBHOOK_ID);
  });

  it('works with a null-prototype header object, as Node builds them', () => {
    const headers = Object.assign(Object.create(null) as Record<string, string>, signed);
    expect(verify(headers).webhookId).toBe(WEBHOOK_ID);
  });
});

describe('verifyWebhook: repeated headers', () => {
  it('accepts array values', () => {
    expect(verify({ 'webhook-id': [WEBHOOK_ID], 'webhook-timestamp': [TS], 'webhook-signature': [BAD, GOOD] }).webhookId).toBe(WEBHOOK_ID);
  });

  it('accepts identical repeats of webhook-id and webhook-timestamp, as arrays or ", "-joined', () => {
    expect(verify({ ...signed, 'webhook-id': [WEBHOOK_ID, WEBHOOK_ID], 'webhook-timestamp': [TS, TS] }).webhookId).toBe(WEBHOOK_ID);
    expect(verify({ ...signed, 'webhook-id': `${WEBHOOK_ID}, ${WEBHOOK_ID}`, 'webhook-timestamp': `${TS}, ${TS}` }).webhookId).toBe(WEBHOOK_ID);
  });

  it('refuses conflicting webhook-id values', () => {
    expectVerificationError(() => verify({ ...signed, 'webhook-id': [WEBHOOK_ID, 'msg_other'] }), 'invalid_header');
    expectVerificationError(() => verify({ ...signed, 'webhook-id': [`msg_other`, WEBHOOK_ID] }), 'invalid_header');
    expectVerificationError(() => verify({ ...signed, 'webhook-id': `${WEBHOOK_ID}, msg_other` }), 'invalid_header');
    expectVerificationError(() => verify({ ...signed, 'webhook-id': [WEBHOOK_ID, ''] }), 'invalid_header');
  });

  it('refuses conflicting webhook-timestamp values', () => {
    expectVerificationError(() => verify({ ...signed, 'webhook-timestamp': [TS, String(NOW_SECONDS + 1)] }), 'invalid_timestamp');
    expectVerificationError(() => verify({ ...signed, 'webhook-timestamp': `${TS}, ${NOW_SECONDS + 1}` }), 'invalid_timestamp');
  });

  it('accepts a Node ", "-joined repeated signature header', () => {
    expect(verify({ ...signed, 'webhook-signature': `${BAD}, ${GOOD}` }).webhookId).toBe(WEBHOOK_ID);
    expect(verify({ ...signed, 'webhook-signature': `${GOOD}, ${BAD}` }).webhookId).toBe(WEBHOOK_ID);
    expect(verify({ ...signed, 'webhook-signature': `${BAD} v1a,xyz=, ${GOOD} ${BAD}` }).webhookId).toBe(WEBHOOK_ID);
  });

  it('refuses when no entry of a repeated signature header matches', () => {
    expectVerificationError(() => verify({ ...signed, 'webhook-signature': [BAD, BAD] }), 'signature_mismatch');
    expectVerificationError(() => verify({ ...signed, 'webhook-signature': `${BAD}, ${BAD}` }), 'signature_mismatch');
  });

  it("refuses non-string header values with the header's own code", () => {
    expectVerificationError(() => verify({ ...signed, 'webhook-id': 42 } as never), 'invalid_header');
    expectVerificationError(() => verify({ ...signed, 'webhook-timestamp': NOW_SECONDS } as never), 'invalid_timestamp');
    expectVerificationError(() => verify({ ...signed, 'webhook-signature': [GOOD, 42] } as never), 'invalid_signature_header');
  });
});

describe('verifyWebhook: fetch Headers', () => {
  it('accepts a Headers instance, whatever the case used to build it', () => {
    const headers = new Headers({ 'Webhook-Id': WEBHOOK_ID, 'WEBHOOK-TIMESTAMP': TS, 'webhook-signature': GOOD });
    expect(verify(headers).webhookId).toBe(WEBHOOK_ID);
  });

  it('accepts appended signature headers (fetch joins them with ", ")', () => {
    const headers = new Headers({ ...signed });
    headers.set('webhook-signature', BAD);
    headers.append('webhook-signature', GOOD);
    expect(headers.get('webhook-signature')).toBe(`${BAD}, ${GOOD}`);
    expect(verify(headers).webhookId).toBe(WEBHOOK_ID);
  });

  it('refuses conflicting appended webhook-id values and accepts identical ones', () => {
    const conflicting = new Headers({ ...signed });
    conflicting.append('webhook-id', 'msg_other');
    expectVerificationError(() => verify(conflicting), 'invalid_header');
    const identical = new Headers({ ...signed });
    identical.append('webhook-id', WEBHOOK_ID);
    expect(verify(identical).webhookId).toBe(WEBHOOK_ID);
  });

  it('names the missing header', () => {
    const headers = new Headers({ ...signed });
    headers.delete('webhook-timestamp');
    expect(expectVerificationError(() => verify(headers), 'missing_header').message).toContain('webhook-timestamp');
  });

  it('accepts any object with a get function', () => {
    const map = new Map<string, string>(Object.entries(signed));
    expect(verify({ get: (name: string) => map.get(name) ?? null }).webhookId).toBe(WEBHOOK_ID);
  });
});

describe('verifyWebhook: over real HTTP', () => {
  /** Sends one request and returns the headers and raw body exactly as a Node server received them. */
  async function roundTrip(headers: Record<string, string | string[]>, body: string): Promise<{ headers: IncomingHttpHeaders; body: Buffer }> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const received = new Promise<{ headers: IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
        server.once('request', (req, res) => {
          const chunks: Buffer[] = [];
          req.on('data', (chunk: Buffer) => chunks.push(chunk));
          req.on('error', reject);
          req.on('end', () => {
            res.end();
            resolve({ headers: req.headers, body: Buffer.concat(chunks) });
          });
        });
      });
      const { port } = server.address() as AddressInfo;
      await new Promise<void>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/webhooks/sesame', headers }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
        req.end(body);
      });
      return await received;
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  it('verifies what a Node server receives, including repeated signature headers', async () => {
    const sent = {
      'Webhook-Id': WEBHOOK_ID,
      'Webhook-Timestamp': TS,
      'Webhook-Signature': [BAD, GOOD],
      'Content-Type': 'application/json',
    };
    const received = await roundTrip(sent, BODY);
    // Node lower-cases the names and joins the repeated header with ", ".
    expect(received.headers['webhook-signature']).toBe(`${BAD}, ${GOOD}`);
    expect(verifyWebhook(received.headers, received.body, SECRET, { now: NOW }).webhookId).toBe(WEBHOOK_ID);
  });

  it('refuses a conflicting repeated webhook-id sent over the wire', async () => {
    const received = await roundTrip({ ...signed, 'webhook-id': [WEBHOOK_ID, 'msg_other'] }, BODY);
    expectVerificationError(() => verifyWebhook(received.headers, received.body, SECRET, { now: NOW }), 'invalid_header');
  });
});
