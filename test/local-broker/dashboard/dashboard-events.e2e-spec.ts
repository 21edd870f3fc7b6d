import http, { type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DashboardEventHub } from '../../../lib/local-broker/dashboard/dashboard-events.hub.js';
import { LocalBroker, type WireApproval } from '../../../lib/testing/index.js';
import { SseClient, type SseEvent } from './sse-client.js';

async function trigger(broker: LocalBroker, body: Record<string, unknown>): Promise<WireApproval> {
  const res = await fetch(`${broker.url}/v1/approvals`, {
    method: 'POST',
    headers: { authorization: `Bearer ${broker.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await res.json()) as WireApproval;
}

const json = (event: SseEvent) => JSON.parse(event.data);

describe('GET /dashboard/events (server-sent events)', () => {
  let broker: LocalBroker;
  const clients: SseClient[] = [];
  const open = async (path = '/dashboard/events') => {
    const client = await SseClient.open(`${broker.url}${path}`);
    clients.push(client);
    return client;
  };
  beforeEach(async () => {
    broker = await LocalBroker.start({ logger: false });
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await broker.stop();
  });

  it('starts with a snapshot of what is pending and decided, as an event stream that is never cached', async () => {
    const held = await trigger(broker, { action: 'payments.refund', summary: 'held', context: { amount: 1 } });
    const done = await trigger(broker, { action: 'x', summary: 'done' });
    await broker.deny(done.id);

    const client = await open();
    expect(client.response.statusCode).toBe(200);
    expect(client.response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(client.response.headers['cache-control']).toBe('no-store');
    const snapshot = json(await client.nth('snapshot', 0));
    expect(snapshot).toMatchObject({ pending: [held], pendingTotal: 1, historyTotal: 1 });
    expect(snapshot.history).toEqual([broker.get(done.id)]);
    expect(client.retry).toBe(1000);
  });

  it('pushes created and decided events (approve, deny, expiry) to every open stream, in order', async () => {
    const [a, b] = [await open(), await open()];
    await Promise.all([a.nth('snapshot', 0), b.nth('snapshot', 0)]);

    const first = await trigger(broker, { action: 'payments.refund', summary: '<b>not markup</b>', reason: 'line\nbreak' });
    const second = await trigger(broker, { action: 'db.drop', summary: 'second' });
    const third = await trigger(broker, { action: 'db.drop', summary: 'third' });
    await broker.approve(first.id);
    await broker.deny(second.id);
    await broker.expire(third.id);

    for (const client of [a, b]) {
      await client.nth('decided', 2);
      expect(client.events.map((e) => [e.event, json(e).id ?? null, json(e).status ?? null])).toEqual([
        ['snapshot', null, null],
        ['created', first.id, 'pending'],
        ['created', second.id, 'pending'],
        ['created', third.id, 'pending'],
        ['decided', first.id, 'approved'],
        ['decided', second.id, 'denied'],
        ['decided', third.id, 'expired'],
      ]);
      // Data survives the line-based framing intact.
      expect(json(client.events[1])).toEqual(first);
    }
  });

  it('sends nothing for a dedup hit (no new approval)', async () => {
    const client = await open();
    await client.nth('snapshot', 0);
    await trigger(broker, { action: 'a', summary: 's', dedup_key: 'same' });
    await trigger(broker, { action: 'a', summary: 's', dedup_key: 'same' });
    const marker = await trigger(broker, { action: 'marker', summary: 'after' });
    await client.until(() => client.events.find((e) => e.event === 'created' && json(e).id === marker.id), 'the marker');
    expect(client.events.filter((e) => e.event === 'created')).toHaveLength(2);
  });

  it('stop() ends open streams and resolves: the dashboard holds nothing open', async () => {
    const [a, b] = [await open(), await open()];
    await Promise.all([a.nth('snapshot', 0), b.nth('snapshot', 0)]);
    await broker.stop();
    await Promise.all([a.ended, b.ended]);
    expect(broker.stopped).toBe(true);
  });
});

describe('DashboardEventHub', () => {
  let server: http.Server;
  let url: string;
  let hub: DashboardEventHub;
  const responses: ServerResponse[] = [];
  const clients: SseClient[] = [];

  async function startHub(options: ConstructorParameters<typeof DashboardEventHub>[0]) {
    hub = new DashboardEventHub(options);
    server = http.createServer((_req, res) => {
      responses.push(res);
      if (!hub.open(res, { hello: 'snapshot' })) res.writeHead(503).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  }
  const connect = async () => {
    const client = await SseClient.open(url);
    clients.push(client);
    await client.nth('snapshot', 0);
    return client;
  };

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    hub.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    responses.length = 0;
  });

  it('counts open streams and forgets a client that disconnects', async () => {
    await startHub({});
    const [a, b] = [await connect(), await connect()];
    expect(hub.clientCount).toBe(2);
    a.close();
    await new Promise((resolve) => (responses[0].closed ? resolve(undefined) : responses[0].once('close', resolve)));
    expect(hub.clientCount).toBe(1);
    hub.publish('created', { id: 'apr_1' });
    expect(json(await b.nth('created', 0))).toEqual({ id: 'apr_1' });
  });

  it('sends heartbeat comments while streams are open', async () => {
    await startHub({ heartbeatMs: 20 });
    const client = await connect();
    await client.until(() => (client.comments.filter((c) => c === 'ping').length >= 2 ? true : undefined), 'two heartbeats');
  });

  it('close() ends every stream and refuses new ones', async () => {
    await startHub({});
    const client = await connect();
    hub.close();
    await client.ended;
    expect(hub.clientCount).toBe(0);
    const refused = await new Promise<number>((resolve) => http.get(url, (res) => resolve(res.resume().statusCode!)));
    expect(refused).toBe(503);
  });

  it('drops a client that has fallen too far behind instead of buffering for it forever', async () => {
    await startHub({ maxBufferedBytes: 64 * 1024 });
    const slow = await connect();
    slow.response.pause(); // stops reading: the socket buffers fill up
    const fast = await connect();
    const payload = { blob: 'x'.repeat(64 * 1024) };
    for (let i = 0; i < 200 && hub.clientCount === 2; i++) {
      hub.publish('created', payload);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(hub.clientCount).toBe(1);
    await fast.nth('created', 0);
  });
});
