import { createHash } from 'node:crypto';
import http from 'node:http';
import { DASHBOARD_HISTORY_LIMIT, DASHBOARD_PENDING_LIMIT } from '../../../lib/local-broker/dashboard/dashboard.handler.js';
import { isLoopbackAddress } from '../../../lib/local-broker/dashboard/dashboard-request.checks.js';
import { LocalBroker, type WireApproval } from '../../../lib/testing/index.js';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** node:http rather than fetch: these tests set headers fetch forbids (Host, Origin, Sec-Fetch-Site). */
function request(broker: LocalBroker, method: string, path: string, options: { headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${broker.url}${path}`, { method, headers: options.headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let body: unknown;
        try {
          body = text && res.headers['content-type']?.startsWith('application/json') ? JSON.parse(text) : undefined;
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode!, headers: res.headers, text, body });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const DECIDE_HEADERS = { 'content-type': 'application/json', 'x-sesame-dashboard': '1' };

function decide(broker: LocalBroker, id: string, decision: unknown, headers: Record<string, string> = DECIDE_HEADERS): Promise<Answer> {
  return request(broker, 'POST', `/dashboard/api/approvals/${encodeURIComponent(id)}/decision`, { headers, body: JSON.stringify({ decision }) });
}

async function trigger(broker: LocalBroker, body: Record<string, unknown>): Promise<WireApproval> {
  const res = await fetch(`${broker.url}/v1/approvals`, {
    method: 'POST',
    headers: { authorization: `Bearer ${broker.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as WireApproval;
}

describe('the dashboard over HTTP', () => {
  let broker: LocalBroker;
  beforeEach(async () => {
    broker = await LocalBroker.start({ logger: false });
  });
  afterEach(() => broker.stop());

  describe('the page', () => {
    it('is served without an API key at dashboardUrl, with a CSP that admits exactly its own inline script and style', async () => {
      expect(broker.dashboardUrl).toBe(`${broker.url}/dashboard`);
      const page = await request(broker, 'GET', '/dashboard');
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.headers['x-frame-options']).toBe('DENY');
      expect(page.headers['x-content-type-options']).toBe('nosniff');
      expect(page.headers['cache-control']).toBe('no-store');
      expect(page.text).toMatch(/^<!doctype html>/);

      const csp = page.headers['content-security-policy']!;
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("connect-src 'self'");
      const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
      const script = /<script>([\s\S]*?)<\/script>/.exec(page.text)![1];
      const style = /<style>([\s\S]*?)<\/style>/.exec(page.text)![1];
      expect(csp).toContain(`script-src ${hash(script)}`);
      expect(csp).toContain(`style-src ${hash(style)}`);
      expect(page.text.match(/<script/g)).toHaveLength(1);
    });

    it('holds no approval data itself (that comes over JSON), and /dashboard/ and HEAD work too', async () => {
      await trigger(broker, { action: 'a', summary: 'Secret-looking summary 1234' });
      const page = await request(broker, 'GET', '/dashboard/');
      expect(page.status).toBe(200);
      expect(page.text).not.toContain('Secret-looking summary 1234');
      const head = await request(broker, 'HEAD', '/dashboard');
      expect(head.status).toBe(200);
      expect(head.text).toBe('');
    });

    it('is where / redirects; other methods and unknown dashboard paths are refused', async () => {
      const root = await request(broker, 'GET', '/');
      expect(root.status).toBe(302);
      expect(root.headers.location).toBe('/dashboard');
      expect(await request(broker, 'POST', '/dashboard')).toMatchObject({ status: 405, headers: { allow: 'GET, HEAD' } });
      expect(await request(broker, 'DELETE', '/')).toMatchObject({ status: 405 });
      const unknown = await request(broker, 'GET', '/dashboard/nope');
      expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
      // The protocol API still wants its key.
      expect((await request(broker, 'GET', '/v1/approvals')).status).toBe(401);
    });
  });

  describe('GET /dashboard/api/approvals', () => {
    it('lists pending approvals oldest first and decided ones newest first, with the broker clock, never a secret', async () => {
      const first = await trigger(broker, { action: 'payments.refund', summary: 'first', reason: 'r', context: { amount: 5 } });
      const second = await trigger(broker, { action: 'db.drop', summary: 'second', callback_url: 'http://127.0.0.1:9/hook' });
      const third = await trigger(broker, { action: 'x', summary: 'third' });
      await broker.approve(third.id);
      const fourth = await trigger(broker, { action: 'x', summary: 'fourth' });
      await broker.deny(fourth.id);

      const before = Date.now();
      const res = await request(broker, 'GET', '/dashboard/api/approvals');
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body.pending).toEqual([first, second]);
      expect(res.body.history.map((a: WireApproval) => [a.summary, a.status])).toEqual([
        ['fourth', 'denied'],
        ['third', 'approved'],
      ]);
      expect(res.body).toMatchObject({ pendingTotal: 2, historyTotal: 2 });
      expect(Date.parse(res.body.now)).toBeGreaterThanOrEqual(before - 1000);
      expect(res.text).not.toContain(broker.apiKey);
      expect(res.text).not.toContain(broker.webhookSecrets[0].slice(6));
    });

    it(`lists at most ${DASHBOARD_PENDING_LIMIT} pending (the oldest) and ${DASHBOARD_HISTORY_LIMIT} decided (the newest), with the totals`, async () => {
      await broker.stop();
      broker = await LocalBroker.start({ logger: false, decide: (a) => (a.action === 'auto' ? 'deny' : undefined) });
      const created: WireApproval[] = [];
      for (let batch = 0; batch < 6; batch++) {
        created.push(...(await Promise.all(Array.from({ length: 100 }, (_, i) => trigger(broker, { action: 'held', summary: `p${batch * 100 + i}` })))));
      }
      for (let i = 0; i < DASHBOARD_HISTORY_LIMIT + 5; i++) await trigger(broker, { action: 'auto', summary: `d${i}` });

      const { body } = await request(broker, 'GET', '/dashboard/api/approvals');
      expect(body.pendingTotal).toBe(600);
      expect(body.pending).toHaveLength(DASHBOARD_PENDING_LIMIT);
      const byAge = broker.list({ status: 'pending' }).reverse();
      expect(body.pending.map((a: WireApproval) => a.id)).toEqual(byAge.slice(0, DASHBOARD_PENDING_LIMIT).map((a) => a.id));
      expect(body.historyTotal).toBe(DASHBOARD_HISTORY_LIMIT + 5);
      expect(body.history).toHaveLength(DASHBOARD_HISTORY_LIMIT);
      expect(body.history[0].summary).toBe(`d${DASHBOARD_HISTORY_LIMIT + 4}`);
      expect(body.history.at(-1).summary).toBe('d5');
    });
  });

  describe('POST /dashboard/api/approvals/{id}/decision', () => {
    it('approves: answers the decided approval, releases held waits, emits approval.decided', async () => {
      const approval = await trigger(broker, { action: 'payments.refund', summary: 's' });
      const wait = fetch(`${broker.url}/v1/approvals/${approval.id}/wait?timeout=30`, { headers: { authorization: `Bearer ${broker.apiKey}` } }).then(
        (r) => r.json() as Promise<WireApproval>,
      );
      await broker.waitForHeldWaits(1);
      const decided = new Promise((resolve) => broker.once('approval.decided', (a, detail) => resolve({ status: a.status, detail })));

      const res = await decide(broker, approval.id, 'approve');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id: approval.id, status: 'approved', decided_at: expect.any(String) });
      await expect(wait).resolves.toMatchObject({ id: approval.id, status: 'approved' });
      await expect(decided).resolves.toEqual({ status: 'approved', detail: { note: null, source: 'dashboard' } });
      expect(broker.get(approval.id)!.status).toBe('approved');
    });

    it('denies; a second decision is 409 already_decided, an unknown id 404', async () => {
      const approval = await trigger(broker, { action: 'a', summary: 's' });
      expect((await decide(broker, approval.id, 'deny')).body).toMatchObject({ status: 'denied' });
      expect(await decide(broker, approval.id, 'approve')).toMatchObject({ status: 409, body: { error: { code: 'already_decided' } } });
      expect(await decide(broker, 'apr_missing', 'approve')).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
      expect(broker.get(approval.id)!.status).toBe('denied');
    });

    it('validates the body: 422 for an unknown decision, 400 for broken JSON; 405 for another method', async () => {
      const approval = await trigger(broker, { action: 'a', summary: 's' });
      expect(await decide(broker, approval.id, 'maybe')).toMatchObject({ status: 422, body: { error: { code: 'validation_failed' } } });
      const broken = await request(broker, 'POST', `/dashboard/api/approvals/${approval.id}/decision`, { headers: DECIDE_HEADERS, body: '{"decision":' });
      expect(broken).toMatchObject({ status: 400, body: { error: { code: 'invalid_json' } } });
      expect(await request(broker, 'GET', `/dashboard/api/approvals/${approval.id}/decision`)).toMatchObject({ status: 405, headers: { allow: 'POST' } });
      expect(broker.get(approval.id)!.status).toBe('pending');
    });

    it.each([
      ['a form post (urlencoded)', { 'content-type': 'application/x-www-form-urlencoded', 'x-sesame-dashboard': '1' }, 415],
      ['a text/plain form post', { 'content-type': 'text/plain', 'x-sesame-dashboard': '1' }, 415],
      ['no content-type', { 'x-sesame-dashboard': '1' }, 415],
      ['JSON without the custom header', { 'content-type': 'application/json' }, 403],
      ['another origin', { ...DECIDE_HEADERS, origin: 'http://evil.example' }, 403],
      ['a cross-site fetch', { ...DECIDE_HEADERS, 'sec-fetch-site': 'cross-site' }, 403],
      ['a same-site (not same-origin) fetch', { ...DECIDE_HEADERS, 'sec-fetch-site': 'same-site' }, 403],
      ['a DNS-rebound host name', { ...DECIDE_HEADERS, host: 'evil.example:8787' }, 403],
    ])('refuses %s and leaves the approval pending', async (_what, headers, status) => {
      const approval = await trigger(broker, { action: 'a', summary: 's' });
      const res = await decide(broker, approval.id, 'approve', headers as Record<string, string>);
      expect(res.status).toBe(status);
      expect(res.body.error.code).toBe(status === 415 ? 'unsupported_media_type' : 'forbidden');
      expect(broker.get(approval.id)!.status).toBe('pending');
    });

    it('accepts what the page sends from its own origin, under an IP address or localhost', async () => {
      for (const host of [`127.0.0.1:${broker.port}`, `localhost:${broker.port}`, `dev.localhost:${broker.port}`]) {
        const approval = await trigger(broker, { action: 'a', summary: host });
        const headers = { ...DECIDE_HEADERS, host, origin: `http://${host}`, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json; charset=UTF-8' };
        expect((await decide(broker, approval.id, 'approve', headers)).status).toBe(200);
      }
    });
  });

  it('answers only requests addressed to an IP address or localhost (DNS rebinding), on every dashboard route', async () => {
    for (const path of ['/', '/dashboard', '/dashboard/api/approvals', '/dashboard/events']) {
      const res = await request(broker, 'GET', path, { headers: { host: `attacker.example:${broker.port}` } });
      expect(res).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    }
    expect((await request(broker, 'GET', '/dashboard', { headers: { host: `[::1]:${broker.port}` } })).status).toBe(200);
  });

  it('recognises loopback peers only', () => {
    for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) expect(isLoopbackAddress(address)).toBe(true);
    for (const address of [undefined, '10.0.0.1', '192.168.1.2', '::ffff:10.0.0.1', '::', '0.0.0.0', 'fe80::1', '128.0.0.1']) {
      expect(isLoopbackAddress(address)).toBe(false);
    }
  });
});

describe('LocalBroker without a dashboard', () => {
  it('dashboard: false serves no page, no redirect, no dashboard API: those paths are protocol paths again', async () => {
    const broker = await LocalBroker.start({ logger: false, dashboard: false });
    try {
      expect(broker.dashboardUrl).toBeNull();
      for (const path of ['/', '/dashboard', '/dashboard/api/approvals', '/dashboard/events']) {
        expect((await request(broker, 'GET', path)).status).toBe(401);
        expect((await request(broker, 'GET', path, { headers: { authorization: `Bearer ${broker.apiKey}` } })).status).toBe(404);
      }
    } finally {
      await broker.stop();
    }
  });

  it('refuses a dashboard option that is not a boolean', async () => {
    await expect(LocalBroker.start({ dashboard: 'yes' as unknown as boolean })).rejects.toThrow('LocalBroker option "dashboard" must be a boolean');
  });
});
