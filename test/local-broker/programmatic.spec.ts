import { NotFoundError, SesameConfigError } from '../../lib/errors.js';
import {
  ApprovalAlreadyDecidedError,
  LocalBroker,
  WaitForApprovalTimeoutError,
  type DecisionDetail,
  type LocalBrokerOptions,
  type WireApproval,
} from '../../lib/testing/index.js';

async function create(broker: LocalBroker, body: Record<string, unknown> = {}): Promise<{ status: number; approval: WireApproval }> {
  const res = await fetch(`${broker.url}/v1/approvals`, {
    method: 'POST',
    headers: { authorization: `Bearer ${broker.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ action: 'ops.deploy', summary: 'Deploy v2', ...body }),
  });
  return { status: res.status, approval: (await res.json()) as WireApproval };
}

describe('LocalBroker programmatic API', () => {
  let broker: LocalBroker;
  const start = async (options: LocalBrokerOptions = {}) => (broker = await LocalBroker.start(options));
  afterEach(() => broker?.stop());

  it('approve/deny/expire reject typed errors for unknown or already decided approvals', async () => {
    await start();
    await expect(broker.approve('apr_unknown')).rejects.toBeInstanceOf(NotFoundError);
    const { approval } = await create(broker);
    expect(broker.pendingCount).toBe(1);
    const approved = await broker.approve(approval.id, 'looks good');
    expect(approved).toMatchObject({ id: approval.id, status: 'approved' });
    expect(broker.pendingCount).toBe(0);
    for (const again of [() => broker.deny(approval.id), () => broker.approve(approval.id), () => broker.expire(approval.id)]) {
      const error = await again().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ApprovalAlreadyDecidedError);
      expect(error).toMatchObject({ approvalId: approval.id, currentStatus: 'approved', code: 'already_decided' });
    }
    const other = (await create(broker)).approval;
    const expired = await broker.expire(other.id);
    expect(expired.status).toBe('expired');
    expect(expired.decided_at).toBe(expired.expires_at);
  });

  it('hands out copies: mutating a returned approval changes nothing in the broker', async () => {
    await start();
    const { approval } = await create(broker, { context: { amount: 1 } });
    const copy = broker.get(approval.id)!;
    copy.status = 'approved';
    copy.context!.amount = 999;
    broker.list()[0].summary = 'changed';
    expect(broker.get(approval.id)).toEqual(approval);
    expect(broker.get('apr_nope')).toBeUndefined();
  });

  it('emits approval.created then approval.decided with the note and the decision source', async () => {
    await start();
    const events: [string, string, DecisionDetail?][] = [];
    broker.on('approval.created', (a) => events.push(['created', a.status]));
    broker.on('approval.decided', (a, detail) => events.push(['decided', a.status, detail]));
    const a = (await create(broker)).approval;
    await broker.approve(a.id, 'ship it');
    const b = (await create(broker)).approval;
    await fetch(`${broker.url}/v1/approvals/${b.id}/decision`, {
      method: 'POST',
      headers: { authorization: `Bearer ${broker.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ decision: 'deny', note: 'not now' }),
    });
    expect(events).toEqual([
      ['created', 'pending'],
      ['decided', 'approved', { note: 'ship it', source: 'api' }],
      ['created', 'pending'],
      ['decided', 'denied', { note: 'not now', source: 'http' }],
    ]);
  });

  it('a throwing listener does not break the decision', async () => {
    await start({ logger: false });
    broker.on('approval.decided', () => {
      throw new Error('listener bug');
    });
    const { approval } = await create(broker);
    await expect(broker.approve(approval.id)).resolves.toMatchObject({ status: 'approved' });
  });

  describe('waitForApproval', () => {
    it('resolves with the oldest existing match, else the next one created or decided', async () => {
      await start();
      const first = (await create(broker, { action: 'a' })).approval;
      await create(broker, { action: 'a' });
      expect((await broker.waitForApproval((x) => x.action === 'a')).id).toBe(first.id);
      expect((await broker.waitForApproval()).id).toBe(first.id);

      const next = broker.waitForApproval((x) => x.action === 'b');
      const created = (await create(broker, { action: 'b' })).approval;
      expect(await next).toEqual(created);

      const decided = broker.waitForApproval((x) => x.id === first.id && x.status === 'denied');
      await broker.deny(first.id);
      expect(await decided).toMatchObject({ id: first.id, status: 'denied' });
    });

    it('rejects on timeout, and when the predicate throws', async () => {
      await start();
      const error = await broker.waitForApproval(() => false, { timeoutMs: 30 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WaitForApprovalTimeoutError);
      await expect(broker.waitForHeldWaits(1, { timeoutMs: 30 })).rejects.toBeInstanceOf(WaitForApprovalTimeoutError);
      const throwing = broker.waitForApproval(() => {
        throw new Error('predicate bug');
      });
      const outcome = throwing.catch((e: unknown) => e);
      await create(broker);
      expect(await outcome).toMatchObject({ message: 'predicate bug' });
    });
  });

  describe('decide policy', () => {
    it('auto-decides synchronously before the 201 is sent; undefined leaves the approval pending', async () => {
      const sources: string[] = [];
      await start({ decide: (a) => (a.action === 'ok' ? 'approve' : a.action === 'no' ? 'deny' : undefined) });
      broker.on('approval.decided', (_a, d) => sources.push(d.source));
      const ok = await create(broker, { action: 'ok' });
      expect(ok).toMatchObject({ status: 201, approval: { status: 'approved', decided_at: expect.any(String) } });
      expect((await create(broker, { action: 'no' })).approval.status).toBe('denied');
      expect((await create(broker, { action: 'later' })).approval.status).toBe('pending');
      expect(sources).toEqual(['policy', 'policy']);
    });

    it('applies an async answer when it settles, is not run for a dedup hit, and a failing policy leaves it pending', async () => {
      const seen: string[] = [];
      const lines: string[] = [];
      await start({
        logger: { log: (m) => lines.push(m) },
        decide: async (a) => {
          seen.push(a.id);
          if (a.action === 'boom') throw new Error('policy bug');
          await new Promise((r) => setTimeout(r, 20));
          return 'approve' as const;
        },
      });
      const { approval } = await create(broker, { dedup_key: 'd1' });
      expect(approval.status).toBe('pending');
      const again = await create(broker, { dedup_key: 'd1' });
      expect(again.status).toBe(200);
      await broker.waitForApproval((a) => a.id === approval.id && a.status === 'approved');
      expect(seen).toEqual([approval.id]);

      const boom = (await create(broker, { action: 'boom' })).approval;
      await new Promise((r) => setTimeout(r, 10));
      expect(broker.get(boom.id)?.status).toBe('pending');
      expect(lines.some((l) => l.includes('policy bug') && l.includes(boom.id))).toBe(true);
    });

    it('the first decision wins over a slower policy', async () => {
      let release!: (d: 'deny') => void;
      await start({ decide: () => new Promise<'deny'>((r) => (release = r)) });
      const { approval } = await create(broker);
      await broker.approve(approval.id);
      release('deny');
      await new Promise((r) => setTimeout(r, 5));
      expect(broker.get(approval.id)?.status).toBe('approved');
    });
  });

  it('logs approvals and decisions when given a logger, never the API key', async () => {
    const lines: string[] = [];
    await start({ apiKeys: { sk_secret_value_123: 'ci' }, logger: { log: (m) => lines.push(m) } });
    const { approval } = await create(broker, { summary: 'Drop table' });
    await broker.deny(approval.id, 'no way');
    const text = lines.join('\n');
    expect(text).toContain(approval.id);
    expect(text).toContain('Drop table');
    expect(text).toContain('no way');
    expect(text).not.toContain('sk_secret_value_123');
  });

  it.each<[LocalBrokerOptions, RegExp]>([
    [{ port: -1 }, /port/],
    [{ port: 1.5 }, /port/],
    [{ apiKeys: [] }, /apiKeys/],
    [{ apiKeys: ['has space'] }, /apiKeys/],
    [{ webhookSecret: 'whsec_@@not-base64-topsecret' }, /webhookSecret/],
    [{ webhookSecret: [] }, /webhookSecret/],
    [{ webhookRetry: { attempts: 0 } }, /webhookRetry\.attempts/],
    [{ webhookRetry: { baseDelayMs: -1 } }, /webhookRetry\.baseDelayMs/],
  ])('refuses bad options %j with SesameConfigError naming the option', async (options, pattern) => {
    const error = await LocalBroker.start(options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SesameConfigError);
    expect((error as Error).message).toMatch(pattern);
    expect((error as Error).message).not.toContain('topsecret');
  });

  it('rejects start() when the port is taken', async () => {
    await start();
    await expect(LocalBroker.start({ port: broker.port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});
