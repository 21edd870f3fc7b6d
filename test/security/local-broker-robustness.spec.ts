import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { runCli, type CliIo } from '../../lib/cli/run-cli.js';
import { SesameConfigError } from '../../lib/errors.js';
import { LIMITS } from '../../lib/local-broker/request-validation.js';
import { LocalBroker, LOCAL_BROKER_DEFAULT_API_KEY, type LocalBrokerOptions, type WireApproval } from '../../lib/testing/index.js';

interface Answer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
}

async function call(broker: LocalBroker, method: string, path: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${broker.apiKey}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${broker.url}${path}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, text };
}

async function create(broker: LocalBroker, extra: Record<string, unknown> = {}): Promise<WireApproval> {
  const res = await call(broker, 'POST', '/v1/approvals', { action: 'ops.restart', summary: 'Restart the API', ...extra });
  expect(res.status).toBe(201);
  return res.body as WireApproval;
}

function decide(broker: LocalBroker, id: string, decision: 'approve' | 'deny' = 'approve'): Promise<Answer> {
  return call(broker, 'POST', `/v1/approvals/${id}/decision`, { decision });
}

/** `{"n":{"n":...1...}}` with `depth` nested objects, as raw JSON (no recursion in the test either). */
function nestedContextJson(depth: number): string {
  return `${'{"n":'.repeat(depth - 1)}{"leaf":1}${'}'.repeat(depth - 1)}`;
}

/** A webhook receiver over real HTTP that answers 200 to everything. */
class Receiver {
  readonly bodies: string[] = [];
  private arrivals: (() => void)[] = [];
  private readonly server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      this.bodies.push(body);
      for (const notify of this.arrivals.splice(0)) notify();
      res.writeHead(200).end('ok');
    });
  });

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  /** Resolves once `count` webhooks arrived. */
  async received(count: number): Promise<string[]> {
    while (this.bodies.length < count) await new Promise<void>((resolve) => this.arrivals.push(resolve));
    return this.bodies;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

describe('LocalBroker robustness', () => {
  const brokers: LocalBroker[] = [];
  async function start(options: LocalBrokerOptions = {}): Promise<LocalBroker> {
    const broker = await LocalBroker.start({ logger: false, ...options });
    brokers.push(broker);
    return broker;
  }
  afterEach(async () => {
    await Promise.all(brokers.splice(0).map((b) => b.stop()));
  });

  describe('retention of decided and expired approvals', () => {
    it('keeps at most retention.maxCount decided/expired approvals (oldest decided evicted first), never a pending one; evicted answers 404 and frees its dedup key', async () => {
      const broker = await start({ retention: { maxCount: 2 } });
      const held = await create(broker, { dedup_key: 'held' });
      const a = await create(broker, { dedup_key: 'key-a' });
      const b = await create(broker, { dedup_key: 'key-b' });
      const c = await create(broker, { dedup_key: 'key-c' });
      expect((await decide(broker, b.id)).status).toBe(200);
      expect((await decide(broker, a.id, 'deny')).status).toBe(200);
      expect(
        broker
          .list()
          .map((x) => x.id)
          .sort(),
      ).toEqual([held.id, a.id, b.id, c.id].sort());
      await broker.expire(c.id); // third terminal approval: b (decided first) goes

      expect(await call(broker, 'GET', `/v1/approvals/${b.id}`)).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
      expect((await call(broker, 'GET', `/v1/approvals/${b.id}/wait?timeout=1`)).status).toBe(404);
      expect((await decide(broker, b.id)).status).toBe(404);
      expect(broker.get(b.id)).toBeUndefined();
      expect(broker.list().map((x) => x.id)).toEqual([c.id, a.id, held.id]);
      expect((await call(broker, 'GET', `/v1/approvals/${held.id}`)).body.status).toBe('pending');

      // The evicted approval's dedup key creates a new approval; the retained ones still deduplicate.
      const again = await call(broker, 'POST', '/v1/approvals', { action: 'ops.restart', summary: 'Restart the API', dedup_key: 'key-b' });
      expect(again.status).toBe(201);
      expect(again.body.id).not.toBe(b.id);
      expect((await call(broker, 'POST', '/v1/approvals', { action: 'x', summary: 'y', dedup_key: 'key-a' })).body.id).toBe(a.id);
      expect(broker.pendingCount).toBe(2);
    });

    it('evicts a decided/expired approval retention.maxAgeMs after its decision, with no read needed; pending ones stay', async () => {
      const broker = await start({ retention: { maxAgeMs: 150 } });
      const pending = await create(broker, { expires_in: 60 });
      const approved = await create(broker);
      const expiring = await create(broker, { expires_in: 1 });
      await broker.approve(approved.id);
      expect((await call(broker, 'GET', `/v1/approvals/${approved.id}`)).body.status).toBe('approved');
      await new Promise((resolve) => setTimeout(resolve, 1_400)); // expiring expires at ~1 s, then is kept 150 ms
      expect(broker.list().map((x) => x.id)).toEqual([pending.id]);
      expect((await call(broker, 'GET', `/v1/approvals/${approved.id}`)).status).toBe(404);
      expect((await call(broker, 'GET', `/v1/approvals/${expiring.id}`)).status).toBe(404);
      expect((await call(broker, 'GET', `/v1/approvals/${pending.id}`)).body.status).toBe('pending');
    });

    it('defaults to keeping 1,000 decided approvals (and 1 hour)', async () => {
      const broker = await start({ decide: () => 'deny' });
      const ids: string[] = [];
      for (let batch = 0; batch < 10; batch++) {
        ids.push(...(await Promise.all(Array.from({ length: 101 }, () => create(broker)))).map((a) => a.id));
      }
      const kept = broker.list();
      expect(kept).toHaveLength(1000);
      expect(kept.every((a) => a.status === 'denied')).toBe(true);
      expect(broker.get(kept.at(-1)!.id)).toBeDefined();
      expect(ids.filter((id) => broker.get(id) === undefined)).toHaveLength(10);
    });

    it('refuses unusable retention options with a SesameConfigError naming the option', async () => {
      for (const retention of [{ maxCount: -1 }, { maxCount: 1.5 }, { maxAgeMs: -5 }, { maxAgeMs: Number.NaN }, { bogus: 1 }]) {
        await expect(LocalBroker.start({ logger: false, retention: retention as never })).rejects.toThrow(
          expect.objectContaining({ constructor: SesameConfigError, message: expect.stringContaining('retention') }),
        );
      }
    });
  });

  describe('GET /v1/approvals is paginated', () => {
    it('answers at most 100 by default, newest first, with a next_cursor that pages through every approval exactly once', async () => {
      const broker = await start();
      for (let batch = 0; batch < 5; batch++) await Promise.all(Array.from({ length: 50 }, () => create(broker)));
      const expected = broker.list().map((a) => a.id);
      expect(expected).toHaveLength(250);

      const first = await call(broker, 'GET', '/v1/approvals');
      expect(first.status).toBe(200);
      expect(first.body.approvals).toHaveLength(100);
      expect(typeof first.body.next_cursor).toBe('string');
      const seen: string[] = first.body.approvals.map((a: WireApproval) => a.id);
      let cursor: string | null = first.body.next_cursor;
      const pageSizes = [100];
      while (cursor !== null) {
        const page = await call(broker, 'GET', `/v1/approvals?cursor=${encodeURIComponent(cursor)}`);
        expect(page.status).toBe(200);
        pageSizes.push(page.body.approvals.length);
        seen.push(...page.body.approvals.map((a: WireApproval) => a.id));
        cursor = page.body.next_cursor;
      }
      expect(pageSizes).toEqual([100, 100, 50]);
      expect(seen).toEqual(expected);
    });

    it('takes limit 1..500 and keeps the status filter; a bad limit or cursor is 422 validation_failed naming it', async () => {
      const broker = await start();
      const made: WireApproval[] = [];
      for (let i = 0; i < 6; i++) made.push(await create(broker));
      for (const a of [made[0], made[2], made[4]]) await broker.approve(a.id);

      const page1 = await call(broker, 'GET', '/v1/approvals?status=approved&limit=2');
      expect(page1.body.approvals.map((a: WireApproval) => a.id)).toEqual([made[4].id, made[2].id]);
      const page2 = await call(broker, 'GET', `/v1/approvals?status=approved&limit=2&cursor=${page1.body.next_cursor}`);
      expect(page2.body).toEqual({ approvals: [expect.objectContaining({ id: made[0].id })], next_cursor: null });
      expect((await call(broker, 'GET', '/v1/approvals?limit=500')).body.approvals).toHaveLength(6);
      expect((await call(broker, 'GET', '/v1/approvals?limit=6')).body.next_cursor).toBeNull();

      for (const limit of ['0', '501', '-1', '1.5', 'abc', '', '1e2']) {
        const res = await call(broker, 'GET', `/v1/approvals?limit=${limit}`);
        expect(res).toMatchObject({ status: 422, body: { error: { code: 'validation_failed', message: expect.stringContaining('"limit"') } } });
      }
      for (const cursor of ['', 'zzz', '-1', made[0].id]) {
        const res = await call(broker, 'GET', `/v1/approvals?cursor=${encodeURIComponent(cursor)}`);
        expect(res).toMatchObject({ status: 422, body: { error: { code: 'validation_failed', message: expect.stringContaining('"cursor"') } } });
      }
    });

    it('a cursor stays valid when approvals around it are evicted', async () => {
      const broker = await start({ retention: { maxCount: 1 } });
      const made: WireApproval[] = [];
      for (let i = 0; i < 5; i++) made.push(await create(broker));
      const page1 = await call(broker, 'GET', '/v1/approvals?limit=2');
      expect(page1.body.approvals.map((a: WireApproval) => a.id)).toEqual([made[4].id, made[3].id]);
      await broker.approve(made[3].id);
      await broker.approve(made[2].id); // evicts made[3], the approval the cursor points at
      const page2 = await call(broker, 'GET', `/v1/approvals?limit=2&cursor=${page1.body.next_cursor}`);
      expect(page2.status).toBe(200);
      expect(page2.body.approvals.map((a: WireApproval) => a.id)).toEqual([made[2].id, made[1].id]);
    });
    it('pages stay exact across thousands of evictions (the creation-order index is compacted), with a cursor taken before them', async () => {
      const broker = await start({ retention: { maxCount: 0 }, decide: (a) => (a.action === 'auto' ? 'deny' : undefined) });
      const held: string[] = [];
      let cursor: string | null = null;
      for (let batch = 0; batch < 25; batch++) {
        held.push((await create(broker, { action: 'held' })).id);
        await Promise.all(Array.from({ length: 100 }, () => create(broker, { action: 'auto' })));
        if (batch === 12) {
          const page = await call(broker, 'GET', '/v1/approvals?limit=5');
          expect(page.body.approvals.map((a: WireApproval) => a.id)).toEqual([...held].reverse().slice(0, 5));
          cursor = page.body.next_cursor;
        }
      }
      expect(broker.list().map((a) => a.id)).toEqual([...held].reverse());
      const rest = await call(broker, 'GET', `/v1/approvals?limit=500&cursor=${cursor}`);
      expect(rest.body).toEqual({
        approvals: [...held]
          .reverse()
          .slice(17)
          .map((id) => expect.objectContaining({ id })),
        next_cursor: null,
      });
    });
  });

  describe('context limits', () => {
    it(`refuses a context nested deeper than ${32} levels with 422 validation_failed naming "context"; creates nothing`, async () => {
      expect(LIMITS).toMatchObject({ contextMaxDepth: 32, contextMaxBytes: 64 * 1024 });
      const broker = await start();
      const post = (context: string) => call(broker, 'POST', '/v1/approvals', `{"action":"a","summary":"s","callback_url":"http://127.0.0.1:9/h","context":${context}}`);
      const atLimit = await post(nestedContextJson(32));
      expect(atLimit.status).toBe(201);
      const arrays = await post(`{"a":${'['.repeat(31)}${']'.repeat(31)}}`); // arrays count as levels too: 32 in all
      expect(arrays.status).toBe(201);
      for (const context of [nestedContextJson(33), `{"a":${'['.repeat(32)}${']'.repeat(32)}}`, nestedContextJson(3000)]) {
        const res = await post(context);
        expect(res).toMatchObject({ status: 422, body: { error: { code: 'validation_failed', message: expect.stringContaining('"context"') } } });
      }
      expect(
        broker
          .list()
          .map((a) => a.id)
          .sort(),
      ).toEqual([atLimit.body.id, arrays.body.id].sort());
    });

    it('refuses a context whose JSON is over 64 KiB (UTF-8 bytes), accepts one of exactly 64 KiB', async () => {
      const broker = await start();
      const overhead = Buffer.byteLength(JSON.stringify({ s: '' }));
      const exact = { s: 'x'.repeat(64 * 1024 - overhead) };
      expect(Buffer.byteLength(JSON.stringify(exact))).toBe(64 * 1024);
      expect((await call(broker, 'POST', '/v1/approvals', { action: 'a', summary: 's', context: exact })).status).toBe(201);
      const over = { s: `${'x'.repeat(64 * 1024 - overhead - 1)}é` }; // é is two UTF-8 bytes: one byte over
      expect(Buffer.byteLength(JSON.stringify(over))).toBe(64 * 1024 + 1);
      expect(JSON.stringify(over).length).toBe(64 * 1024); // counted in bytes, not characters
      const res = await call(broker, 'POST', '/v1/approvals', { action: 'a', summary: 's', context: over });
      expect(res).toMatchObject({ status: 422, body: { error: { code: 'validation_failed', message: expect.stringContaining('"context"') } } });
      expect(broker.list()).toHaveLength(1);
    });
  });

  describe('a decision is applied and reported 200, or not applied at all', () => {
    let receiver: Receiver;
    beforeEach(async () => {
      receiver = await new Receiver().start();
    });
    afterEach(() => receiver.stop());

    it('a logger that throws on the decision line neither turns the decision into a 500 nor loses its webhook', async () => {
      const broker = await start({
        logger: {
          log: (message) => {
            if (/ (approved|denied|expired) \(/.test(message)) throw new Error('log sink is broken');
          },
        },
      });
      const a = await create(broker, { callback_url: receiver.url });
      const decided = new Promise((resolve) => broker.once('approval.decided', resolve));
      const held = call(broker, 'GET', `/v1/approvals/${a.id}/wait?timeout=10`);
      await broker.waitForHeldWaits(1);

      const res = await decide(broker, a.id);
      expect(res).toMatchObject({ status: 200, body: { id: a.id, status: 'approved' } });
      expect((await held).body.status).toBe('approved');
      await decided;
      const [hook] = await receiver.received(1);
      expect(JSON.parse(hook)).toMatchObject({ approval_id: a.id, status: 'approved' });
      expect((await decide(broker, a.id)).status).toBe(409);
    });

    it('a logger that always throws changes no outcome: create 201, decisions by HTTP, API and expiry timer all complete with their webhooks', async () => {
      const broker = await start({
        logger: {
          log: () => {
            throw new Error('log sink is broken');
          },
        },
      });
      const byHttp = await create(broker, { callback_url: receiver.url, dedup_key: 'http' });
      const byApi = await create(broker, { callback_url: receiver.url });
      const byExpiry = await create(broker, { callback_url: receiver.url, expires_in: 1 });
      expect((await decide(broker, byHttp.id, 'deny')).status).toBe(200);
      expect((await broker.approve(byApi.id)).status).toBe('approved');
      const hooks = (await receiver.received(3)).map((body) => JSON.parse(body) as { approval_id: string; status: string });
      expect(Object.fromEntries(hooks.map((h) => [h.approval_id, h.status]))).toEqual({
        [byHttp.id]: 'denied',
        [byApi.id]: 'approved',
        [byExpiry.id]: 'expired',
      });
      expect(broker.pendingCount).toBe(0);
    });
  });

  describe('binding beyond loopback', () => {
    it('refuses a non-loopback host with the public default API key: SesameConfigError telling to pass apiKeys', async () => {
      for (const host of ['0.0.0.0', '::', '0:0:0:0:0:0:0:0', 'example.invalid']) {
        const outcome = await LocalBroker.start({ logger: false, host }).catch((error: unknown) => error);
        if (outcome instanceof LocalBroker) await outcome.stop();
        expect(outcome).toBeInstanceOf(SesameConfigError);
        expect((outcome as Error).message).toMatch(new RegExp(`${LOCAL_BROKER_DEFAULT_API_KEY}[\\s\\S]*apiKeys`));
      }
    });

    it('keeps loopback hosts working with the default key, and a non-loopback host with explicit keys', async () => {
      for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1', '0:0:0:0:0:0:0:1']) {
        const broker = await start({ host });
        expect(broker.apiKey).toBe(LOCAL_BROKER_DEFAULT_API_KEY);
        expect((await call(broker, 'GET', '/v1/approvals')).status).toBe(200);
      }
      const open = await start({ host: '0.0.0.0', apiKeys: ['sk_deliberate_key'] });
      const res = await fetch(`http://127.0.0.1:${open.port}/v1/approvals`, { headers: { authorization: 'Bearer sk_deliberate_key' } });
      expect(res.status).toBe(200);
    });

    it('the CLI refuses --host 0.0.0.0 without a key (clear message, non-zero exit), and serves it with --api-key or SESAME_API_KEY', async () => {
      const io = (env: Record<string, string | undefined> = {}) => {
        const lines = { out: [] as string[], err: [] as string[] };
        const cliIo: CliIo = { out: (t) => lines.out.push(t), err: (t) => lines.err.push(t), env, onShutdownSignal: () => () => undefined };
        return { lines, cliIo };
      };
      const refused = io();
      const run = await runCli(['broker', '--host', '0.0.0.0', '--port', '0'], refused.cliIo);
      expect(run.broker).toBeNull();
      expect(await run.exitCode).not.toBe(0);
      expect(refused.lines.err.join('\n')).toMatch(/0\.0\.0\.0[\s\S]*--api-key/);

      for (const [argv, env] of [
        [['--api-key', 'sk_cli_key'], {}],
        [[], { SESAME_API_KEY: 'sk_cli_key' }],
      ] as const) {
        const ok = io(env);
        const served = await runCli(['broker', '--host', '0.0.0.0', '--port', '0', ...argv], ok.cliIo);
        try {
          expect(served.broker).toBeInstanceOf(LocalBroker);
          expect(served.broker!.apiKey).toBe('sk_cli_key');
        } finally {
          await served.stop();
        }
      }
    });
  });
});
