/**
 * Attack 6: the gate on WebSocket gateways (`ws` and socket.io), microservices (TCP, Redis: message and
 * event patterns) and GraphQL on Mercurius (HTTP, batched queries, and the GraphQL WebSocket with
 * `fullWsTransport`). Real processes only: Nest apps on loopback, the real LocalBroker, real clients,
 * a real redis-server. The holes it proved are fixed: their tests (marked "Found by this suite") assert the
 * safe outcome, which failed against the code before the fix; the other tests are attacks that held.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { firstValueFrom } from 'rxjs';
import WebSocket from 'ws';
import { LocalBroker } from '../../lib/testing/index.js';
import type { StartedApp } from '../support/nest-apps.js';
import { RedisServer } from '../support/redis-server.js';
import { SOCKET_KINDS, connectSocket, sleep, startSocketApp, type SocketClient, type SocketKind } from '../approval-gate/transports/websockets-fixtures.js';
import { ChildAppHost } from '../support/child-app-host.js';
import { AccountsGateway, startRpc, type MercuriusAppState, type StartedRpc } from './attack6-fixtures.js';
import { Ledger } from '../support/ledger.js';

const API_KEY = 'sk_test_SECRET_attack6_9c1e';
const REDIS_PASSWORD = 'CANARYpw-attack6-r3dis';
/** Long enough for a wrongly resumed handler to have run, on a loaded 2-core machine. */
const SETTLE_MS = 500;

const pendingOf = (broker: LocalBroker, action: string, except: string[] = []) =>
  broker.waitForApproval((a) => a.status === 'pending' && a.action === action && !except.includes(a.id));

// =============================================================================================
// WebSocket gateways
// =============================================================================================

describe.each(SOCKET_KINDS)('attack 6: WebSocket gateway (%s)', (kind: SocketKind) => {
  let broker: LocalBroker;
  let started: StartedApp;
  let ledger: Ledger;
  let clients: SocketClient[];

  beforeEach(async () => {
    clients = [];
    const gated = await startSocketApp(kind, {
      apiKey: API_KEY,
      sesame: { retry: { retries: 1, minDelay: 1, maxDelay: 2 } },
      providers: [Ledger, AccountsGateway],
    });
    ({ broker, started } = gated);
    ledger = started.app.get(Ledger);
  });
  afterEach(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await started.app.close();
    await broker.stop();
    for (const line of started.logger.lines) expect(line).not.toContain(API_KEY);
    for (const client of clients) expect(JSON.stringify(client.received)).not.toContain(API_KEY);
  });
  const connect = async (user?: string) => {
    const client = await connectSocket(kind, started.url, user);
    clients.push(client);
    return client;
  };

  // Found by this suite (fixed: ws.transport.ts reads the user live): the ws adapter snapshotted the user into the scope's request (`{ headers: {}, user }`) when the
  // message arrives, so the check before the run (bind() again) compares the snapshot with itself. A
  // `login` message during the wait replaces the socket's user; the approved handler then runs for bob
  // on the approval of alice's call. Over HTTP the same replacement (req.user = bob) is caught, because
  // the scope holds the live request. The safe outcome: approval_mismatch, nothing runs.
  it("a login during the wait: alice's approved transfer does not run for bob (the requester is read live)", async () => {
    const client = await connect('alice');
    client.send('transfer', { amount: 500, to: 'mallory' });
    const approval = await pendingOf(broker, 'accounts.transfer');
    client.send('login', { user: 'bob' });
    expect(await client.next('logged-in')).toEqual({ user: 'bob' });
    await broker.approve(approval.id);
    const answer = await Promise.race([client.next('transferred').then((data) => ({ transferred: data })), client.next('exception').then((data) => ({ exception: data }))]);
    await sleep(SETTLE_MS);
    expect(answer).toMatchObject({ exception: { code: 'approval_mismatch' } });
    expect(ledger.ran).toEqual([]);
  });

  it('control: with no login in between, the approved transfer runs once, for alice', async () => {
    const client = await connect('alice');
    client.send('transfer', { amount: 500, to: 'mallory' });
    await broker.approve((await pendingOf(broker, 'accounts.transfer')).id);
    expect(await client.next('transferred')).toEqual({ from: 'alice', amount: 500, to: 'mallory' });
    expect(ledger.ran).toEqual(['transfer:alice:500:mallory']);
  });

  it('two identical dedupKey messages in flight on one socket share one approval: one runs, the other is refused', async () => {
    const client = await connect('alice');
    const order = { orderId: 'o1', amount: 10 };
    client.send('pay-order', order);
    client.send('pay-order', order);
    await broker.waitForHeldWaits(2);
    expect(broker.list().filter((a) => a.action === 'orders.pay')).toHaveLength(1);
    await broker.approve(broker.list()[0].id);
    expect(await client.next('paid')).toEqual(order);
    expect(await client.next('exception')).toMatchObject({ code: 'approval_already_used' });
    await sleep(SETTLE_MS);
    expect(ledger.ran).toEqual(['pay:o1:10']);
  });

  it('two messages with one dedupKey but other data each get their own approval; approving one runs only it', async () => {
    const client = await connect('alice');
    client.send('pay-order', { orderId: 'o1', amount: 10 });
    const small = await pendingOf(broker, 'orders.pay');
    client.send('pay-order', { orderId: 'o1', amount: 99_999 });
    const big = await pendingOf(broker, 'orders.pay', [small.id]);
    expect(big.summary).toBe('Pay 99999 for o1');
    await broker.approve(small.id);
    expect(await client.next('paid')).toEqual({ orderId: 'o1', amount: 10 });
    await broker.deny(big.id);
    expect(await client.next('exception')).toMatchObject({ code: 'approval_denied', approvalId: big.id });
    await sleep(SETTLE_MS);
    expect(ledger.ran).toEqual(['pay:o1:10']);
  });

  it("another user's identical dedupKey message while alice's approval is still open gets an approval of its own", async () => {
    const alice = await connect('alice');
    alice.send('pay-order-quick', { orderId: 'o7', amount: 70 });
    const first = await pendingOf(broker, 'orders.pay-quick');
    // Alice's wait ends (timeout); her approval stays open for 60 s.
    expect(await alice.next('exception')).toMatchObject({ code: 'approval_timeout', approvalId: first.id });
    const bob = await connect('bob');
    bob.send('pay-order-quick', { orderId: 'o7', amount: 70 });
    const second = await pendingOf(broker, 'orders.pay-quick', [first.id]);
    await broker.approve(first.id);
    await sleep(SETTLE_MS);
    expect(ledger.ran).toEqual([]);
    await broker.deny(second.id);
    expect(await bob.next('exception')).toMatchObject({ code: 'approval_denied', approvalId: second.id });
    expect(ledger.ran).toEqual([]);
  });

  it('a client that disconnects during the wait and sends again after reconnecting: one approval, one run', async () => {
    const first = await connect('alice');
    first.send('pay-order', { orderId: 'o3', amount: 30 });
    const approval = await pendingOf(broker, 'orders.pay');
    await first.close();
    await broker.waitForHeldWaits(0);
    const again = await connect('alice');
    again.send('pay-order', { orderId: 'o3', amount: 30 });
    await broker.waitForHeldWaits(1);
    expect(broker.list()).toHaveLength(1);
    await broker.approve(approval.id);
    expect(await again.next('paid')).toEqual({ orderId: 'o3', amount: 30 });
    await sleep(SETTLE_MS);
    expect(ledger.ran).toEqual(['pay:o3:30']);
    // The same message once more: the dedupKey finds the used approval.
    again.send('pay-order', { orderId: 'o3', amount: 30 });
    expect(await again.next('exception')).toMatchObject({ code: 'approval_already_used', approvalId: approval.id });
    expect(ledger.ran).toEqual(['pay:o3:30']);
  });

  it('a refusal is sent to the sender only, never to another client on the same gateway', async () => {
    const alice = await connect('alice');
    const bob = await connect('bob');
    alice.send('transfer', { amount: 1, to: 'x' });
    await broker.deny((await pendingOf(broker, 'accounts.transfer')).id);
    expect(await alice.next('exception')).toMatchObject({ code: 'approval_denied' });
    await sleep(SETTLE_MS);
    expect(bob.received).toEqual([]);
    expect(ledger.ran).toEqual([]);
  });

  if (kind === 'socket.io') {
    it('socket.io acks: two identical acked messages get two approvals; approving one acks it alone, once', async () => {
      const client = await connect('alice');
      const one = client.ack!('ack-transfer', { amount: 5, to: 'y' });
      const firstApproval = await pendingOf(broker, 'accounts.ack-transfer');
      const two = client.ack!('ack-transfer', { amount: 5, to: 'y' });
      const secondApproval = await pendingOf(broker, 'accounts.ack-transfer', [firstApproval.id]);
      await broker.approve(firstApproval.id);
      expect(await Promise.race([one, two])).toEqual({ ok: 5 });
      await sleep(SETTLE_MS);
      expect(ledger.ran).toEqual(['ack:5:y']);
      await broker.deny(secondApproval.id);
      expect(await client.next('exception')).toMatchObject({ code: 'approval_denied', approvalId: secondApproval.id });
      await Promise.allSettled([one, two]);
      expect(ledger.ran).toEqual(['ack:5:y']);
    });
  }
});

describe('attack 6: WebSocket gateway secrets', () => {
  it.each(SOCKET_KINDS)('%s: a wrong API key: the exception event and the logs never carry a key', async (kind) => {
    const broker = await LocalBroker.start({ apiKeys: ['sk_test_the_right_one'] });
    const { started, broker: own } = await startSocketApp(kind, {
      apiKey: API_KEY,
      sesame: { retry: { retries: 1, minDelay: 1, maxDelay: 2 }, baseUrl: broker.url },
      providers: [Ledger, AccountsGateway],
    });
    const client = await connectSocket(kind, started.url, 'alice');
    try {
      client.send('transfer', { amount: 1, to: 'x' });
      expect(await client.next('exception')).toMatchObject({ code: 'approval_gate_error', message: 'The approval gate is misconfigured; nothing was run.' });
      expect(started.app.get(Ledger).ran).toEqual([]);
    } finally {
      await client.close();
      await started.app.close();
      await own.stop();
      await broker.stop();
    }
    expect(JSON.stringify(client.received)).not.toContain(API_KEY);
    expect(started.logger.lines.join('\n')).not.toContain(API_KEY);
    expect(started.logger.lines.join('\n')).not.toContain('sk_test_the_right_one');
  });
});

// =============================================================================================
// Microservices
// =============================================================================================

interface RpcAnswer {
  reply?: unknown;
  error?: unknown;
}

async function sendFor(service: StartedRpc, pattern: string, data: unknown): Promise<RpcAnswer> {
  try {
    return { reply: await firstValueFrom(service.client.send(pattern, data)) };
  } catch (error) {
    return { error };
  }
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(10);
  }
}

describe('attack 6: TCP microservice', () => {
  let broker: LocalBroker;
  let service: StartedRpc;

  beforeEach(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY] });
    service = await startRpc({ transport: 'tcp', apiKey: API_KEY, baseUrl: broker.url });
  });
  afterEach(async () => {
    await service.client.close();
    await service.app.close();
    await broker.stop();
    expect(service.logger.lines.join('\n')).not.toContain(API_KEY);
  });

  it('payloads that differ only in type (10 vs "10") never share an approval', async () => {
    const asString = sendFor(service, 'order.pay', { orderId: 'o1', amount: '10' });
    const first = await pendingOf(broker, 'orders.pay');
    await broker.approve(first.id);
    expect(await asString).toEqual({ reply: { paid: '10' } });
    const asNumber = sendFor(service, 'order.pay', { orderId: 'o1', amount: 10 });
    const second = await pendingOf(broker, 'orders.pay', [first.id]);
    await broker.deny(second.id);
    expect((await asNumber).error).toMatchObject({ code: 'approval_denied', approvalId: second.id });
    expect(service.ledger.ran).toEqual(['pay:o1:"10"']);
  });

  it('an own "__proto__" key from JSON is bound: a payload that differs only there gets its own approval', async () => {
    // JSON.parse keeps "__proto__" as an own key; the handler's Object.assign turns it into the prototype (amount read from it).
    const approved = sendFor(service, 'order.pay', JSON.parse('{"orderId":"o2","__proto__":{"amount":1}}'));
    const first = await pendingOf(broker, 'orders.pay');
    await broker.approve(first.id);
    expect(await approved).toEqual({ reply: { paid: 1 } });
    const swapped = sendFor(service, 'order.pay', JSON.parse('{"orderId":"o2","__proto__":{"amount":1000000}}'));
    const second = await pendingOf(broker, 'orders.pay', [first.id]);
    await broker.deny(second.id);
    expect((await swapped).error).toMatchObject({ code: 'approval_denied' });
    // Key order does not matter, and the same payload again finds the used approval.
    const reordered = await sendFor(service, 'order.pay', JSON.parse('{"__proto__":{"amount":1},"orderId":"o2"}'));
    expect(reordered.error).toMatchObject({ code: 'approval_already_used', approvalId: first.id });
    expect(service.ledger.ran).toEqual(['pay:o2:1']);
  });

  it('a client that closes during the wait: nothing runs for it; the same payload later runs once on the approval', async () => {
    const leaving = service.newClient();
    await leaving.connect();
    const subscription = leaving.send('order.pay', { orderId: 'o3', amount: 3 }).subscribe({ error: () => undefined });
    const approval = await pendingOf(broker, 'orders.pay');
    subscription.unsubscribe();
    leaving.close();
    await broker.waitForHeldWaits(0);
    await broker.approve(approval.id);
    await sleep(SETTLE_MS);
    expect(service.ledger.ran).toEqual([]);
    expect(await sendFor(service, 'order.pay', { orderId: 'o3', amount: 3 })).toEqual({ reply: { paid: 3 } });
    expect((await sendFor(service, 'order.pay', { orderId: 'o3', amount: 3 })).error).toMatchObject({ code: 'approval_already_used' });
    expect(service.ledger.ran).toEqual(['pay:o3:3']);
  });

  it('a message whose client gave up (timeout) keeps its approval; an identical message (the same call) runs on it once', async () => {
    const first = await sendFor(service, 'order.pay-quick', { orderId: 'o4', amount: 4 });
    expect(first.error).toMatchObject({ code: 'approval_timeout' });
    const approvalId = (first.error as { approvalId: string }).approvalId;
    const again = sendFor(service, 'order.pay-quick', { orderId: 'o4', amount: 4 });
    await broker.waitForHeldWaits(1);
    await broker.approve(approvalId);
    expect(await again).toEqual({ reply: { paid: 4 } });
    await sleep(SETTLE_MS);
    expect(service.ledger.ran).toEqual(['pay-quick:o4:4']);
  });
});

describe('attack 6: microservice secrets', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await RedisServer.start({ requirePass: REDIS_PASSWORD });
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('a wrong API key over TCP: the error the ClientProxy receives and the logs carry no key', async () => {
    const broker = await LocalBroker.start({ apiKeys: ['sk_test_the_right_one'] });
    const service = await startRpc({ transport: 'tcp', apiKey: API_KEY, baseUrl: broker.url });
    try {
      const answer = await sendFor(service, 'order.pay', { orderId: 'k1', amount: 1 });
      expect(answer.error).toMatchObject({ code: 'approval_gate_error' });
      expect(JSON.stringify(answer.error)).not.toContain(API_KEY);
      expect(service.ledger.ran).toEqual([]);
    } finally {
      await service.client.close();
      await service.app.close();
      await broker.stop();
    }
    expect(service.logger.lines.join('\n')).not.toContain(API_KEY);
  });

  it('a Redis store with a password that goes down: the TCP answer and the logs carry no password', async () => {
    const broker = await LocalBroker.start({ apiKeys: [API_KEY] });
    const store = { type: 'redis' as const, url: `redis://:${encodeURIComponent(REDIS_PASSWORD)}@127.0.0.1:${redis.port}` };
    const service = await startRpc({ transport: 'tcp', apiKey: API_KEY, baseUrl: broker.url, store });
    try {
      const answer = sendFor(service, 'order.pay', { orderId: 'r1', amount: 1 });
      const approval = await pendingOf(broker, 'orders.pay');
      await redis.stop();
      await broker.approve(approval.id);
      const { error } = await answer;
      expect(error).toMatchObject({ code: 'approval_store_unavailable' });
      expect(JSON.stringify(error)).not.toContain('CANARYpw');
      expect(service.ledger.ran).toEqual([]);
    } finally {
      await redis.start();
      await service.client.close();
      await service.app.close();
      await broker.stop();
    }
    const logs = service.logger.lines.join('\n');
    expect(logs).not.toContain('CANARYpw');
    expect(logs).not.toContain(encodeURIComponent('CANARYpw'));
    expect(logs).not.toContain(API_KEY);
  });
});

describe('attack 6: Redis microservices', () => {
  let redis: RedisServer;
  let broker: LocalBroker;
  const services: StartedRpc[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis.stop();
  });
  beforeEach(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY] });
  });
  afterEach(async () => {
    for (const service of services.splice(0)) {
      await service.client.close();
      await service.app.close();
      expect(service.logger.lines.join('\n')).not.toContain(API_KEY);
    }
    await broker.stop();
  });

  const allLogs = () => services.flatMap((s) => s.logger.lines);
  const ran = () => services.flatMap((s) => s.ledger.ran);
  // Nest's static Logger writes to one of the apps' loggers: counted over both.
  const refusals = () => allLogs().filter((line) => /Event handler refused, nothing ran: approval_(already_used|in_use)/.test(line)).length;

  it('two instances on one channel with a shared (Redis) store receive one event: one approval (dedupKey), one run in all; a replay runs nothing', async () => {
    const store = { type: 'redis' as const, url: redis.url };
    for (let i = 0; i < 2; i++) services.push(await startRpc({ transport: 'redis', apiKey: API_KEY, baseUrl: broker.url, redisPort: redis.port, store }));
    await firstValueFrom(services[0].client.emit('order.placed', { orderId: 'o9' }));
    await broker.waitForHeldWaits(2);
    expect(broker.list()).toHaveLength(1);
    await broker.approve(broker.list()[0].id);
    await until(() => ran().length === 1 && refusals() >= 1, 'one instance ran the event, the other refused it');
    const before = refusals();
    // The same event published again (a replay): both instances find the used approval.
    await firstValueFrom(services[0].client.emit('order.placed', { orderId: 'o9' }));
    await until(() => refusals() >= before + 2, 'the replay was refused on both');
    await sleep(SETTLE_MS);
    expect(ran()).toEqual(['placed:o9']);
  });

  // Found by this suite: Redis pub/sub delivers every event to every instance subscribed to the channel, so two
  // instances of one service are two replicas receiving the same call; with the default in-memory store each takes
  // the single use in its own memory and one approval ran the event handler twice. Replicas need a shared store
  // (README "Deploying", now also "Microservices"; the shared-store case above runs once): the app now says so at boot.
  it('gated microservice handlers with the default in-memory store: each instance warns at boot, naming the handlers and the fix', async () => {
    services.push(await startRpc({ transport: 'redis', apiKey: API_KEY, baseUrl: broker.url, redisPort: redis.port }));
    const warning = services[0].logger.lines.find((line) => line.includes('gated microservice handlers with the default in-memory approval store'));
    expect(warning).toBeDefined();
    expect(warning).toContain("store: { type: 'redis', url }");
    expect(warning).toMatch(/\w+\.\w+\(\)/);
  });
});

// =============================================================================================
// GraphQL on Mercurius (child process)
// =============================================================================================

/** The Mercurius apps in a child process (attack6-fixtures.ts), asked over IPC. */
class MercuriusHost {
  private constructor(private readonly host: ChildAppHost<MercuriusAppState>) {}

  static async start(): Promise<MercuriusHost> {
    return new MercuriusHost(await ChildAppHost.start<MercuriusAppState>('Mercurius host', 'test/security/attack6-fixtures.ts', ['mercurius']));
  }

  get output(): string {
    return this.host.output;
  }
  startApp(brokerUrl: string): Promise<string> {
    return this.host.startApp(brokerUrl, API_KEY);
  }
  state(): Promise<MercuriusAppState> {
    return this.host.state();
  }
  stopApp(): Promise<MercuriusAppState> {
    return this.host.stopApp();
  }
  close(): Promise<void> {
    return this.host.close();
  }
}

interface GqlResult {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/** A graphql-transport-ws client (Mercurius' GraphQL WebSocket), authenticated on the upgrade request with `x-user`. */
class GqlSocket {
  private readonly results = new Map<string, (result: GqlResult) => void>();
  private nextId = 1;
  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (raw: WebSocket.RawData) => {
      const message = JSON.parse(raw.toString()) as { type: string; id?: string; payload?: unknown };
      if (message.type === 'next' && message.id) this.results.get(message.id)?.(message.payload as GqlResult);
      if (message.type === 'error' && message.id) this.results.get(message.id)?.({ errors: message.payload as GqlResult['errors'] });
    });
  }

  static async connect(appUrl: string, user: string): Promise<GqlSocket> {
    const socket = new WebSocket(`${appUrl.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws', { headers: { 'x-user': user } });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    const acked = new Promise<void>((resolve, reject) => {
      socket.on('message', (raw: WebSocket.RawData) => {
        const { type } = JSON.parse(raw.toString()) as { type: string };
        if (type === 'connection_ack') resolve();
        if (type === 'connection_error') reject(new Error(raw.toString()));
      });
    });
    socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
    await acked;
    return new GqlSocket(socket);
  }

  run(query: string): Promise<GqlResult> {
    const id = String(this.nextId++);
    const result = new Promise<GqlResult>((resolve) => this.results.set(id, resolve));
    this.socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query } }));
    return result;
  }

  close(): void {
    this.socket.close();
  }
}

async function gqlHttp(url: string, body: unknown, headers: Record<string, string> = {}): Promise<unknown> {
  const response = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return response.json();
}

describe('attack 6: GraphQL on Mercurius (child process)', () => {
  let host: MercuriusHost;
  let broker: LocalBroker;
  let url: string;
  const sockets: GqlSocket[] = [];

  beforeAll(async () => {
    host = await MercuriusHost.start();
  });
  afterAll(async () => {
    if (!host) return;
    await host.close();
    expect(host.output).not.toContain(API_KEY);
  });
  beforeEach(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY] });
    url = await host.startApp(broker.url);
  });
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    const { logs } = await host.stopApp();
    await broker.stop();
    expect(logs.join('\n')).not.toContain(API_KEY);
  });
  const socketFor = async (user: string) => {
    const socket = await GqlSocket.connect(url, user);
    sockets.push(socket);
    return socket;
  };

  // Found by this suite (fixed: graphqlScope keeps the request, unwatched): over Mercurius' GraphQL WebSocket (`fullWsTransport`) the resolver's context has `req` (the
  // upgrade request, given by `subscription.context`) and the guard sets `req.user` as the README asks,
  // but there is no `reply` to watch, so graphqlScope() returns undefined and the gate enters a detached
  // scope with no request: the call is bound to no requester. Bob's identical mutation then finds alice's
  // approval by its dedupKey and runs on it (after alice's wait ended). The safe outcome: bob's call gets an
  // approval of its own (as over HTTP, below), and approving alice's runs nothing.
  it("over the GraphQL WebSocket, bob's mutation does not run on alice's approval (the requester is kept)", async () => {
    const alice = await socketFor('alice');
    const aliceAnswer = await alice.run('mutation { withdraw(amount: 7) }');
    expect(aliceAnswer.errors?.[0].extensions).toMatchObject({ code: 'APPROVAL_TIMEOUT' });
    const aliceApproval = broker.list()[0];
    const bob = await socketFor('bob');
    const bobAnswer = bob.run('mutation { withdraw(amount: 7) }');
    await broker.waitForHeldWaits(1);
    await broker.approve(aliceApproval.id);
    const other = await pendingOf(broker, 'wallet.withdraw', [aliceApproval.id]).catch(() => undefined);
    if (other) await broker.deny(other.id);
    const answer = await bobAnswer;
    await sleep(SETTLE_MS);
    expect((await host.state()).ran).toEqual([]);
    expect(answer.errors?.[0].extensions).toMatchObject({ code: 'APPROVAL_DENIED' });
  });

  it("control over HTTP: bob's identical mutation gets an approval of its own; approving alice's runs nothing", async () => {
    const aliceAnswer = (await gqlHttp(url, { query: 'mutation { withdraw(amount: 8) }' }, { 'x-user': 'alice' })) as GqlResult;
    expect(aliceAnswer.errors?.[0].extensions).toMatchObject({ code: 'APPROVAL_TIMEOUT' });
    const aliceApproval = broker.list()[0];
    const bobAnswer = gqlHttp(url, { query: 'mutation { withdraw(amount: 8) }' }, { 'x-user': 'bob' }) as Promise<GqlResult>;
    const bobApproval = await pendingOf(broker, 'wallet.withdraw', [aliceApproval.id]);
    await broker.approve(aliceApproval.id);
    await sleep(SETTLE_MS);
    expect((await host.state()).ran).toEqual([]);
    await broker.deny(bobApproval.id);
    expect((await bobAnswer).errors?.[0].extensions).toMatchObject({ code: 'APPROVAL_DENIED' });
    expect((await host.state()).ran).toEqual([]);
  });

  it('a batch (allowBatchedQueries) of two identical dedupKey mutations: one approval, one run', async () => {
    const batch = gqlHttp(url, [{ query: 'mutation { deposit(amount: 3) }' }, { query: 'mutation { deposit(amount: 3) }' }], { 'x-user': 'alice' }) as Promise<GqlResult[]>;
    await broker.waitForHeldWaits(2);
    expect(broker.list()).toHaveLength(1);
    await broker.approve(broker.list()[0].id);
    const results = await batch;
    const codes = results.map((r) => (r.errors ? r.errors[0].extensions?.code : r.data?.deposit));
    expect(codes.sort()).toEqual([3, 'APPROVAL_ALREADY_USED'].sort());
    expect((await host.state()).ran).toEqual(['deposit:alice:3']);
  });

  it('a batch of two identical async mutations presenting one approved id: one run, the other refused', async () => {
    const first = (await gqlHttp(url, { query: 'mutation { asyncDeposit(amount: 4) }' }, { 'x-user': 'alice' })) as GqlResult;
    const approvalId = first.errors?.[0].extensions?.approvalId as string;
    expect(first.errors?.[0].extensions).toMatchObject({ code: 'APPROVAL_PENDING' });
    await broker.approve(approvalId);
    const headers = { 'x-user': 'alice', 'sesame-approval-id': approvalId };
    const results = (await gqlHttp(url, [{ query: 'mutation { asyncDeposit(amount: 4) }' }, { query: 'mutation { asyncDeposit(amount: 4) }' }], headers)) as GqlResult[];
    const codes = results.map((r) => (r.errors ? r.errors[0].extensions?.code : r.data?.asyncDeposit));
    expect(codes.filter((c) => c === 4)).toHaveLength(1);
    // Bob presenting alice's id: bound to alice, refused.
    const bob = (await gqlHttp(url, { query: 'mutation { asyncDeposit(amount: 4) }' }, { 'x-user': 'bob', 'sesame-approval-id': approvalId })) as GqlResult;
    expect(bob.errors?.[0].extensions).toMatchObject({ code: 'APPROVAL_MISMATCH' });
    expect((await host.state()).ran).toEqual(['async-deposit:alice:4']);
  });
});
