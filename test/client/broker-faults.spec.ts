import { inspect } from 'node:util';
import {
  ApprovalAborted,
  ApprovalTimeout,
  BrokerProtocolError,
  BrokerUnavailableError,
  NotFoundError,
  RequestRejectedError,
  SesameAuthError,
  SesameClient,
} from '../../lib/index.js';
import { SESAME_PACKAGE_VERSION } from '../../lib/version.js';
import { ScriptedServer, wireApproval } from '../support/scripted-server.js';
import { CLIENT_TRANSPORTS, transportOptions } from '../support/client-transports.js';

const API_KEY = 'sk_test_SECRET_faults_7f3a';

describe.each(CLIENT_TRANSPORTS)('SesameClient against a misbehaving broker (%s HTTP client)', (transport) => {
  let server: ScriptedServer;
  let client: SesameClient;

  beforeEach(async () => {
    server = await ScriptedServer.start();
    client = new SesameClient({ apiKey: API_KEY, baseUrl: server.url, requestTimeout: 500, retry: { retries: 3, minDelay: 1, maxDelay: 5 }, ...transportOptions(transport) });
  });
  afterEach(async () => {
    client.close();
    await server.stop();
  });

  const trigger = () => client.approvals.trigger({ action: 'payments.refund', summary: 'Refund $42.00' });

  it('sends the bearer key and User-Agent, and retries 503s with the same dedup key (no double page)', async () => {
    server.script({ status: 503 }, { status: 503 }, { status: 201, body: wireApproval() });
    const approval = await trigger();
    expect(approval.id).toBe('apr_scripted');
    expect(server.requests).toHaveLength(3);
    for (const r of server.requests) {
      expect(r.headers.authorization).toBe(`Bearer ${API_KEY}`);
      expect(r.headers['user-agent']).toBe(`nestjs-sesame/${SESAME_PACKAGE_VERSION}`);
    }
    const keys = server.requests.map((r) => JSON.parse(r.body).dedup_key);
    expect(keys[0]).toMatch(/^auto_/);
    expect(new Set(keys).size).toBe(1);
  });

  it('sends the same headers on a read and a trigger, and a body length that matches the body', async () => {
    server.script({ status: 200, body: wireApproval() }, { status: 201, body: wireApproval() });
    await client.approvals.get('apr_scripted');
    await trigger();
    const [read, write] = server.requests;
    const common = {
      host: new URL(server.url).host,
      authorization: `Bearer ${API_KEY}`,
      'user-agent': `nestjs-sesame/${SESAME_PACKAGE_VERSION}`,
      accept: 'application/json',
      connection: 'keep-alive',
    };
    expect(read).toMatchObject({ method: 'GET', url: '/v1/approvals/apr_scripted', headers: common });
    expect(read.headers['content-type']).toBeUndefined();
    expect(write).toMatchObject({ method: 'POST', url: '/v1/approvals', headers: { ...common, 'content-type': 'application/json' } });
    expect(Number(write.headers['content-length'])).toBe(Buffer.byteLength(write.body));
    expect(JSON.parse(write.body)).toMatchObject({ action: 'payments.refund', summary: 'Refund $42.00' });
  });

  it('retries a dropped connection, then succeeds', async () => {
    server.script({ drop: true }, { status: 200, body: wireApproval({ status: 'approved', decided_at: '2026-11-24T08:01:00.000Z' }) });
    const approval = await client.approvals.get('apr_scripted');
    expect(approval.approved).toBe(true);
    expect(approval.decidedAt).toEqual(new Date('2026-11-24T08:01:00.000Z'));
    expect(server.requests).toHaveLength(2);
  });

  it('retries a response delayed past the request timeout', async () => {
    server.script({ delayMs: 1_000, status: 200, body: wireApproval() }, { status: 200, body: wireApproval() });
    await expect(client.approvals.get('apr_scripted')).resolves.toMatchObject({ id: 'apr_scripted' });
    expect(server.requests).toHaveLength(2);
  });

  it('honours Retry-After on 429', async () => {
    server.script({ status: 429, headers: { 'retry-after': '1' } }, { status: 200, body: wireApproval() });
    const started = Date.now();
    await client.approvals.get('apr_scripted');
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(server.requests).toHaveLength(2);
  });

  it('gives up at once when Retry-After is longer than the bound', async () => {
    const strict = new SesameClient({ apiKey: API_KEY, baseUrl: server.url, retry: { retries: 3, minDelay: 1, maxRetryAfter: 1_000 }, ...transportOptions(transport) });
    server.script({ status: 429, headers: { 'retry-after': '120' } });
    await expect(strict.approvals.get('apr_scripted')).rejects.toBeInstanceOf(BrokerUnavailableError);
    expect(server.requests).toHaveLength(1);
    strict.close();
  });

  it('ends with BrokerUnavailableError once retries are exhausted', async () => {
    server.script({ status: 502, body: '<html>bad gateway</html>' });
    const error = await trigger().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerUnavailableError);
    expect(error).toMatchObject({ attempts: 4, lastStatus: 502 });
    expect(server.requests).toHaveLength(4);
    expect((error as Error).message).not.toContain(API_KEY);
    expect(inspect(error)).not.toContain(API_KEY);
  });

  it('an unreachable broker is BrokerUnavailableError, without the key', async () => {
    await server.stop();
    const error = await client.approvals.get('apr_x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerUnavailableError);
    expect((error as BrokerUnavailableError).lastFailure).toContain('ECONNREFUSED');
    expect(inspect(error, { depth: 10 })).not.toContain(API_KEY);
    server = await ScriptedServer.start(); // afterEach stops it again
  });

  it.each([
    [401, { error: { code: 'unauthorized', message: 'bad key' } }, SesameAuthError],
    [404, { error: { code: 'not_found', message: 'nope' } }, NotFoundError],
    [422, { error: { code: 'validation_failed', message: 'summary is required' } }, RequestRejectedError],
    [400, { error: { code: 'invalid_json', message: 'bad json' } }, RequestRejectedError],
  ])('maps HTTP %i to its typed error without retrying', async (status, body, type) => {
    server.script({ status, body });
    const error = await client.approvals.get('apr_missing').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(type);
    expect(server.requests).toHaveLength(1);
    if (error instanceof RequestRejectedError) expect(error).toMatchObject({ status, code: body.error.code, detail: body.error.message });
    if (error instanceof NotFoundError) expect(error.approvalId).toBe('apr_missing');
  });

  it.each([
    ['a body that is not JSON', '{"id": "apr_1", '],
    ['an empty body', ''],
    ['a JSON array', [wireApproval()]],
    ['an unknown status', wireApproval({ status: 'maybe' })],
    ['a numeric id', wireApproval({ id: 42 })],
    ['an invalid timestamp', wireApproval({ created_at: 'yesterday' })],
    ['a string context', wireApproval({ context: 'x' })],
  ])('refuses %s in a 2xx answer with BrokerProtocolError', async (_what, body) => {
    server.script({ status: 200, body });
    await expect(client.approvals.get('apr_scripted')).rejects.toBeInstanceOf(BrokerProtocolError);
  });

  it('refuses a huge response body', async () => {
    server.script({ status: 200, body: wireApproval({ summary: 'x'.repeat(2 * 1024 * 1024) }) });
    await expect(client.approvals.get('apr_scripted')).rejects.toBeInstanceOf(BrokerProtocolError);
  });

  it('refuses invalid trigger input before sending anything', async () => {
    server.script({ status: 201, body: wireApproval() });
    const error = await client.approvals.trigger({ action: '', summary: 'x', expiresIn: -5 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RequestRejectedError);
    expect(error).toMatchObject({ status: null, code: 'invalid_input' });
    expect((error as Error).message).toMatch(/action/);
    expect((error as Error).message).toMatch(/expiresIn/);
    expect(server.requests).toHaveLength(0);
  });

  it('converts expiresIn from ms to whole seconds on the wire, rounding up', async () => {
    server.script({ status: 201, body: wireApproval() });
    await client.approvals.trigger({ action: 'a', summary: 's', expiresIn: 1_500, callbackUrl: 'http://127.0.0.1:9/hook', dedupKey: 'mine' });
    expect(JSON.parse(server.requests[0].body)).toEqual({ action: 'a', summary: 's', expires_in: 2, callback_url: 'http://127.0.0.1:9/hook', dedup_key: 'mine' });
  });

  it('wait loops long-polls until decided, asking for at most 60 s each', async () => {
    server.script(
      { status: 200, body: wireApproval() },
      { status: 200, body: wireApproval() },
      { status: 200, body: wireApproval({ status: 'denied', decided_at: '2026-11-24T08:02:00.000Z' }) },
    );
    const decided = await client.approvals.wait('apr_scripted', { timeout: 600_000 });
    expect(decided.status).toBe('denied');
    expect(server.requests.map((r) => r.url)).toEqual(Array(3).fill('/v1/approvals/apr_scripted/wait?timeout=60'));
  });

  it('wait rejects with ApprovalTimeout at the caller deadline, even mid long-poll', async () => {
    server.script({ delayMs: 5_000, status: 200, body: wireApproval() });
    const started = Date.now();
    const error = await client.approvals.wait('apr_scripted', { timeout: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApprovalTimeout);
    expect(error).toMatchObject({ approvalId: 'apr_scripted', timeoutMs: 300 });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(server.requests[0].url).toBe('/v1/approvals/apr_scripted/wait?timeout=1');
  });

  it('the caller deadline also cuts a retry backoff short (ApprovalTimeout, not a late BrokerUnavailableError)', async () => {
    server.script({ status: 429, headers: { 'retry-after': '2' } }, { status: 200, body: wireApproval() });
    const started = Date.now();
    const error = await client.approvals.wait('apr_scripted', { timeout: 400 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApprovalTimeout);
    expect(error).toMatchObject({ approvalId: 'apr_scripted', timeoutMs: 400 });
    expect(Date.now() - started).toBeLessThan(1_500);
    // The second answer was never asked for: the backoff ended at the deadline.
    expect(server.requests).toHaveLength(1);
  });

  it('an AbortSignal that aborts during a retry backoff ends the wait with ApprovalAborted', async () => {
    server.script({ status: 429, headers: { 'retry-after': '2' } }, { status: 200, body: wireApproval() });
    const controller = new AbortController();
    const reason = new Error('client went away');
    const waiting = client.approvals.wait('apr_scripted', { timeout: 60_000, signal: controller.signal });
    await server.waitForRequests(1);
    controller.abort(reason);
    const error = await waiting.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApprovalAborted);
    expect((error as ApprovalAborted).cause).toBe(reason);
    expect(server.requests).toHaveLength(1);
  });

  it('an AbortSignal stops a wait at once with ApprovalAborted', async () => {
    server.script({ delayMs: 5_000, status: 200, body: wireApproval() });
    const controller = new AbortController();
    const waiting = client.approvals.wait('apr_scripted', { timeout: 60_000, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('client went away')), 100);
    const error = await waiting.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApprovalAborted);
    expect((error as ApprovalAborted).approvalId).toBe('apr_scripted');
  });
});
