import { LocalBroker, LOCAL_BROKER_DEFAULT_API_KEY } from '../../lib/testing/index.js';

interface Answer {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
}

async function call(broker: LocalBroker, method: string, path: string, body?: unknown, key: string | null = broker.apiKey): Promise<Answer> {
  const headers: Record<string, string> = { 'user-agent': 'nestjs-sesame/test' };
  if (key !== null) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${broker.url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: text ? JSON.parse(text) : undefined };
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('LocalBroker HTTP API (protocol v1)', () => {
  let broker: LocalBroker;
  beforeEach(async () => {
    broker = await LocalBroker.start({ logger: false });
  });
  afterEach(() => broker.stop());

  describe('auth', () => {
    it('uses the default key, and answers 401 unauthorized to a missing, wrong or malformed key without echoing it', async () => {
      expect(broker.apiKey).toBe(LOCAL_BROKER_DEFAULT_API_KEY);
      for (const key of [null, 'sk_wrong_key_xyz']) {
        const res = await call(broker, 'POST', '/v1/approvals', { action: 'a', summary: 's' }, key);
        expect(res.status).toBe(401);
        expect(res.body).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
        expect(res.text).not.toContain('sk_wrong_key_xyz');
      }
      const basic = await fetch(`${broker.url}/v1/approvals`, { headers: { authorization: `Basic ${broker.apiKey}` } });
      expect(basic.status).toBe(401);
      expect(await basic.text()).not.toContain(broker.apiKey);
      expect((await call(broker, 'GET', '/v1/approvals/apr_x', undefined, null)).status).toBe(401);
      expect(broker.list()).toEqual([]);
    });

    it('accepts every configured key and labels approvals with the key label', async () => {
      await broker.stop();
      broker = await LocalBroker.start({ apiKeys: { sk_a: 'team-a', sk_b: 'team-b' } });
      expect(broker.apiKey).toBe('sk_a');
      const a = await call(broker, 'POST', '/v1/approvals', { action: 'x', summary: 'y' }, 'sk_a');
      const b = await call(broker, 'POST', '/v1/approvals', { action: 'x', summary: 'y' }, 'sk_b');
      expect([a.body.requester_label, b.body.requester_label]).toEqual(['team-a', 'team-b']);
      expect((await call(broker, 'GET', `/v1/approvals/${a.body.id}`, undefined, LOCAL_BROKER_DEFAULT_API_KEY)).status).toBe(401);
    });

    it('serves GET /healthz without auth', async () => {
      const res = await call(broker, 'GET', '/healthz', undefined, null);
      expect(res).toMatchObject({ status: 200, body: { ok: true } });
    });
  });

  describe('POST /v1/approvals', () => {
    it('creates: 201 with every field, ISO 8601 UTC timestamps and nulls for absent values', async () => {
      const before = Date.now();
      const res = await call(broker, 'POST', '/v1/approvals', { action: 'payments.refund', summary: 'Refund 42 EUR' });
      expect(res.status).toBe(201);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const a = res.body;
      expect(Object.keys(a).sort()).toEqual([
        'action',
        'callback_url',
        'context',
        'created_at',
        'decided_at',
        'dedup_key',
        'expires_at',
        'id',
        'reason',
        'requester_label',
        'status',
        'summary',
      ]);
      expect(a).toMatchObject({
        id: expect.stringMatching(/^apr_[0-9a-f]{24}$/),
        action: 'payments.refund',
        summary: 'Refund 42 EUR',
        reason: null,
        context: null,
        status: 'pending',
        decided_at: null,
        requester_label: 'local',
        dedup_key: null,
        callback_url: null,
      });
      expect(a.created_at).toMatch(ISO);
      expect(a.expires_at).toMatch(ISO);
      const created = Date.parse(a.created_at);
      expect(created).toBeGreaterThanOrEqual(before - 1);
      expect(Date.parse(a.expires_at) - created).toBe(3600 * 1000);
      expect(broker.get(a.id)).toEqual(a);
    });

    it('stores every optional field', async () => {
      const input = {
        action: 'db.drop',
        summary: 'Drop table users',
        reason: 'cleanup',
        context: { table: 'users', rows: 3, nested: { ok: true } },
        callback_url: 'https://app.example.com/hooks/sesame',
        dedup_key: 'ticket-1',
        expires_in: 90,
        unknown_field: 'ignored',
      };
      const { status, body } = await call(broker, 'POST', '/v1/approvals', input);
      expect(status).toBe(201);
      expect(body).toMatchObject({ reason: 'cleanup', context: input.context, callback_url: input.callback_url, dedup_key: 'ticket-1' });
      expect(body).not.toHaveProperty('unknown_field');
      expect(Date.parse(body.expires_at) - Date.parse(body.created_at)).toBe(90_000);
    });

    it.each([
      { field: 'action', body: { summary: 's' } },
      { field: 'action', body: { action: '', summary: 's' } },
      { field: 'action', body: { action: 'a'.repeat(201), summary: 's' } },
      { field: 'summary', body: { action: 'a' } },
      { field: 'summary', body: { action: 'a', summary: 's'.repeat(2001) } },
      { field: 'summary', body: { action: 'a', summary: 7 } },
      { field: 'reason', body: { action: 'a', summary: 's', reason: 5 } },
      { field: 'context', body: { action: 'a', summary: 's', context: [1, 2] } },
      { field: 'context', body: { action: 'a', summary: 's', context: 'text' } },
      { field: 'callback_url', body: { action: 'a', summary: 's', callback_url: 'ftp://example.com/x' } },
      { field: 'callback_url', body: { action: 'a', summary: 's', callback_url: '/relative' } },
      { field: 'dedup_key', body: { action: 'a', summary: 's', dedup_key: '' } },
      { field: 'dedup_key', body: { action: 'a', summary: 's', dedup_key: 'k'.repeat(201) } },
      { field: 'expires_in', body: { action: 'a', summary: 's', expires_in: 0 } },
      { field: 'expires_in', body: { action: 'a', summary: 's', expires_in: 604801 } },
      { field: 'expires_in', body: { action: 'a', summary: 's', expires_in: 1.5 } },
      { field: 'expires_in', body: { action: 'a', summary: 's', expires_in: '60' } },
      { field: 'body', body: [{ action: 'a', summary: 's' }] },
    ])('refuses a bad $field with 422 validation_failed naming it (case $#)', async ({ body, field }) => {
      const res = await call(broker, 'POST', '/v1/approvals', body);
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('validation_failed');
      expect(res.body.error.message).toContain(field);
      expect(broker.pendingCount).toBe(0);
    });

    it('accepts the limits exactly and explicit nulls', async () => {
      const res = await call(broker, 'POST', '/v1/approvals', {
        action: 'a'.repeat(200),
        summary: 's'.repeat(2000),
        dedup_key: 'k'.repeat(200),
        expires_in: 604800,
        reason: null,
        context: null,
        callback_url: null,
      });
      expect(res.status).toBe(201);
    });

    it('answers 400 invalid_json to a malformed or empty body, and 413 to a body over 1 MiB', async () => {
      for (const raw of ['{"action":', '']) {
        const res = await call(broker, 'POST', '/v1/approvals', raw);
        expect(res.status).toBe(400);
        expect(res.body.error.code).toBe('invalid_json');
      }
      const huge = JSON.stringify({ action: 'a', summary: 's', context: { blob: 'x'.repeat(1024 * 1024) } });
      const res = await call(broker, 'POST', '/v1/approvals', huge);
      expect(res.status).toBe(413);
      expect(res.body.error.code).toBe('payload_too_large');
      expect(broker.pendingCount).toBe(0);
    });

    it('dedup: the same dedup_key while unexpired answers 200 with that approval, whatever its status; no second created event', async () => {
      const created: string[] = [];
      broker.on('approval.created', (a) => created.push(a.id));
      const input = { action: 'payments.refund', summary: 'Refund', dedup_key: 'order-7' };
      const first = await call(broker, 'POST', '/v1/approvals', input);
      const second = await call(broker, 'POST', '/v1/approvals', { ...input, summary: 'different text' });
      expect([first.status, second.status]).toEqual([201, 200]);
      expect(second.body).toEqual(first.body);
      await broker.deny(first.body.id);
      const third = await call(broker, 'POST', '/v1/approvals', input);
      expect(third.status).toBe(200);
      expect(third.body).toMatchObject({ id: first.body.id, status: 'denied' });
      const other = await call(broker, 'POST', '/v1/approvals', { ...input, dedup_key: 'order-8' });
      expect(other.status).toBe(201);
      expect(created).toEqual([first.body.id, other.body.id]);
      expect(broker.list()).toHaveLength(2);
    });

    it('dedup: once the first approval expired, the same dedup_key creates a new one', async () => {
      const input = { action: 'a', summary: 's', dedup_key: 'k1' };
      const first = await call(broker, 'POST', '/v1/approvals', input);
      await broker.expire(first.body.id);
      const second = await call(broker, 'POST', '/v1/approvals', input);
      expect(second.status).toBe(201);
      expect(second.body.id).not.toBe(first.body.id);
      expect(broker.get(first.body.id)?.status).toBe('expired');
    });
  });

  describe('GET /v1/approvals/{id} and routing', () => {
    it('gets an approval, 404 not_found for an unknown id', async () => {
      const { body } = await call(broker, 'POST', '/v1/approvals', { action: 'a', summary: 's' });
      expect(await call(broker, 'GET', `/v1/approvals/${body.id}`)).toMatchObject({ status: 200, body });
      const missing = await call(broker, 'GET', '/v1/approvals/apr_missing');
      expect(missing).toMatchObject({ status: 404, body: { error: { code: 'not_found', message: expect.stringContaining('apr_missing') } } });
      expect((await call(broker, 'GET', '/v1/approvals/apr_missing/wait?timeout=1')).status).toBe(404);
    });

    it('answers 404 to unknown routes and 405 (with Allow) to a wrong method', async () => {
      expect((await call(broker, 'GET', '/v2/approvals')).body.error.code).toBe('not_found');
      expect((await call(broker, 'GET', '/v1/approvals/apr_1/nope')).status).toBe(404);
      const wrong = await call(broker, 'DELETE', '/v1/approvals');
      expect(wrong.status).toBe(405);
      expect(wrong.headers.get('allow')).toBe('GET, POST');
      expect(wrong.body.error.code).toBe('method_not_allowed');
      expect((await call(broker, 'POST', '/v1/approvals/apr_1/wait')).status).toBe(405);
    });
  });

  describe('local-only endpoints', () => {
    it('decides over HTTP: approve, deny, and 409 already_decided on a second decision', async () => {
      const a = (await call(broker, 'POST', '/v1/approvals', { action: 'a', summary: 's' })).body;
      const b = (await call(broker, 'POST', '/v1/approvals', { action: 'b', summary: 's' })).body;
      const approved = await call(broker, 'POST', `/v1/approvals/${a.id}/decision`, { decision: 'approve', note: 'fine' });
      expect(approved.status).toBe(200);
      expect(approved.body).toMatchObject({ id: a.id, status: 'approved', decided_at: expect.stringMatching(ISO) });
      const denied = await call(broker, 'POST', `/v1/approvals/${b.id}/decision`, { decision: 'deny' });
      expect(denied.body.status).toBe('denied');
      const again = await call(broker, 'POST', `/v1/approvals/${a.id}/decision`, { decision: 'deny' });
      expect(again).toMatchObject({ status: 409, body: { error: { code: 'already_decided' } } });
      expect(broker.get(a.id)?.status).toBe('approved');
      expect((await call(broker, 'POST', '/v1/approvals/apr_nope/decision', { decision: 'approve' })).status).toBe(404);
      const bad = await call(broker, 'POST', `/v1/approvals/${a.id}/decision`, { decision: 'maybe' });
      expect(bad).toMatchObject({ status: 422, body: { error: { code: 'validation_failed', message: expect.stringContaining('decision') } } });
    });

    it('lists newest first, with an optional status filter (422 for an unknown status)', async () => {
      const ids: string[] = [];
      for (const action of ['one', 'two', 'three']) ids.push((await call(broker, 'POST', '/v1/approvals', { action, summary: 's' })).body.id);
      await broker.approve(ids[1]);
      const all = await call(broker, 'GET', '/v1/approvals');
      expect(all.body.approvals.map((a: { id: string }) => a.id)).toEqual([...ids].reverse());
      const pending = await call(broker, 'GET', '/v1/approvals?status=pending');
      expect(pending.body.approvals.map((a: { action: string }) => a.action)).toEqual(['three', 'one']);
      const approved = await call(broker, 'GET', '/v1/approvals?status=approved');
      expect(approved.body.approvals).toEqual([expect.objectContaining({ id: ids[1], status: 'approved' })]);
      expect((await call(broker, 'GET', '/v1/approvals?status=nope')).status).toBe(422);
      expect(broker.list({ status: 'pending' }).map((a) => a.action)).toEqual(['three', 'one']);
    });
  });
});
