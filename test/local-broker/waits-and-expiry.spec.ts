import { LocalBroker, LocalBrokerStoppedError, type WireApproval } from '../../lib/testing/index.js';

function request(broker: LocalBroker, method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(`${broker.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${broker.apiKey}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
}

async function create(broker: LocalBroker, extra: Record<string, unknown> = {}): Promise<WireApproval> {
  const res = await request(broker, 'POST', '/v1/approvals', { action: 'ops.restart', summary: 'Restart the API', ...extra });
  expect(res.status).toBe(201);
  return (await res.json()) as WireApproval;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function wait(broker: LocalBroker, id: string, query = '?timeout=5', signal?: AbortSignal): Promise<{ status: number; body: any; ms: number }> {
  const started = Date.now();
  const res = await request(broker, 'GET', `/v1/approvals/${id}/wait${query}`, undefined, signal);
  return { status: res.status, body: await res.json(), ms: Date.now() - started };
}

describe('LocalBroker long-poll waits and expiry', () => {
  let broker: LocalBroker;
  beforeEach(async () => {
    broker = await LocalBroker.start();
  });
  afterEach(() => broker.stop());

  it('returns at once for an approval already decided', async () => {
    const a = await create(broker);
    await broker.deny(a.id);
    const res = await wait(broker, a.id, '?timeout=30');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: a.id, status: 'denied' });
    expect(res.ms).toBeLessThan(500);
  });

  it('holds a pending approval and answers at decision time, releasing every waiter', async () => {
    const a = await create(broker);
    const waits = Array.from({ length: 20 }, () => wait(broker, a.id, '?timeout=10'));
    await broker.waitForHeldWaits(20);
    expect(broker.waitingCount).toBe(20);
    const decidedAt = Date.now();
    await broker.approve(a.id, 'ok');
    const results = await Promise.all(waits);
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ id: a.id, status: 'approved', decided_at: expect.any(String) });
    }
    expect(Date.now() - decidedAt).toBeLessThan(1000);
    expect(broker.waitingCount).toBe(0);
  });

  it('answers 200 with status pending after `timeout` seconds', async () => {
    const a = await create(broker);
    const res = await wait(broker, a.id, '?timeout=1');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: a.id, status: 'pending', decided_at: null });
    expect(res.ms).toBeGreaterThanOrEqual(950);
    expect(res.ms).toBeLessThan(2500);
    expect(broker.waitingCount).toBe(0);
  });

  it.each(['0', '61', '1.5', 'abc', '-1', '', '1e1'])('refuses timeout=%j with 422 validation_failed', async (timeout) => {
    const a = await create(broker);
    const res = await request(broker, 'GET', `/v1/approvals/${a.id}/wait?timeout=${timeout}`);
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({ error: { code: 'validation_failed', message: expect.stringContaining('timeout') } });
  });

  it('drops the listener and its timer when the client disconnects', async () => {
    const a = await create(broker);
    const controller = new AbortController();
    const held = wait(broker, a.id, '?timeout=30', controller.signal).catch((e: unknown) => e);
    await broker.waitForHeldWaits(1);
    controller.abort();
    expect(await held).toMatchObject({ name: 'AbortError' });
    await broker.waitForHeldWaits(0); // counts down: resolves once the broker saw the disconnect
    expect(broker.waitingCount).toBe(0);
    await broker.approve(a.id); // no waiter left to answer: must not throw
  });

  it('expires a pending approval at expires_at: status expired, decided_at = expires_at, waiters released, events fired', async () => {
    const decided: [WireApproval, string][] = [];
    broker.on('approval.decided', (a, detail) => decided.push([a, detail.source]));
    const a = await create(broker, { expires_in: 1 });
    const res = await wait(broker, a.id, '?timeout=10');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: a.id, status: 'expired', decided_at: a.expires_at });
    expect(res.ms).toBeLessThan(2000);
    expect(broker.get(a.id)).toMatchObject({ status: 'expired', decided_at: a.expires_at });
    expect(broker.pendingCount).toBe(0);
    expect(decided).toEqual([[expect.objectContaining({ id: a.id, status: 'expired' }), 'expiry']]);
    const late = await request(broker, 'POST', `/v1/approvals/${a.id}/decision`, { decision: 'approve' });
    expect(late.status).toBe(409);
  });

  it('stop() closes held long-polls, refuses new connections, rejects pending waits, and is idempotent', async () => {
    const a = await create(broker, { expires_in: 600 });
    const held = Promise.all([wait(broker, a.id, '?timeout=60'), wait(broker, a.id, '?timeout=60')].map((p) => p.catch((e: unknown) => e)));
    const pendingMatch = broker.waitForApproval((x) => x.status === 'approved', { timeoutMs: 60_000 }).catch((e: unknown) => e);
    await broker.waitForHeldWaits(2);
    const started = Date.now();
    await Promise.all([broker.stop(), broker.stop()]);
    expect(Date.now() - started).toBeLessThan(1000);
    // fetch errors come from another realm under Jest ESM: match on shape, not instanceof.
    for (const outcome of await held) expect(outcome).toMatchObject({ name: 'TypeError', message: 'fetch failed' });
    expect(await pendingMatch).toBeInstanceOf(LocalBrokerStoppedError);
    await expect(fetch(`${broker.url}/healthz`)).rejects.toThrow();
    expect(broker.waitingCount).toBe(0);
    expect(broker.stopped).toBe(true);
    await expect(broker.approve(a.id)).rejects.toBeInstanceOf(LocalBrokerStoppedError);
  });

  it('two brokers in one process are fully independent', async () => {
    const other = await LocalBroker.start({ apiKeys: ['sk_other'], decide: () => 'deny' });
    try {
      expect(other.url).not.toBe(broker.url);
      expect(other.webhookSecrets).not.toEqual(broker.webhookSecrets);
      const mine = await create(broker);
      const theirs = await create(other);
      expect(mine.status).toBe('pending');
      expect(theirs.status).toBe('denied');
      expect(broker.list().map((a) => a.id)).toEqual([mine.id]);
      expect(other.list().map((a) => a.id)).toEqual([theirs.id]);
      expect((await request(other, 'GET', `/v1/approvals/${mine.id}`)).status).toBe(404);
      const crossKey = await fetch(`${broker.url}/v1/approvals`, { headers: { authorization: 'Bearer sk_other' } });
      expect(crossKey.status).toBe(401);
      await other.stop();
      await broker.approve(mine.id);
      expect((await wait(broker, mine.id, '?timeout=1')).body.status).toBe('approved');
    } finally {
      await other.stop();
    }
  });
});
