/**
 * Attack 5: the new surfaces of the gate: module policies and `when`, and the transports (GraphQL on
 * Apollo, Redis microservices) next to REST.
 *
 * The rule: an approval authorizes at most one execution of exactly the call the human saw (same
 * action, arguments, requester), on every path and in every mode; when in doubt the gated code does
 * not run. No API key reaches an answer or a log line.
 *
 * `it.failing` marks a proven hole (the test asserts the safe behaviour and fails against the code);
 * plain `it` are attacks that were refused, kept as regression tests. Real Nest apps on loopback, the
 * real LocalBroker, real clients (fetch, ClientProxy, ioredis) and a real redis-server.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { ClientProxyFactory, Transport, type ClientProxy } from '@nestjs/microservices';
import { Redis } from 'ioredis';
import { firstValueFrom } from 'rxjs';
import { LocalBroker } from '../../lib/testing/index.js';
import { Ledger } from '../support/ledger.js';
import type { StartedApp } from '../support/nest-apps.js';
import { RedisServer } from '../support/redis-server.js';
import { PolicyLatch, startApolloApp, startRedisMicroservice } from './attack5-fixtures.js';

const API_KEY = 'sk_test_SECRET_attack5_9e41d2';

interface GraphQLBody {
  data?: Record<string, unknown> | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
}

describe('attack 5: GraphQL (Apollo on Express), policies and REST side by side', () => {
  let broker: LocalBroker;
  let started: StartedApp;
  const texts: string[] = [];

  beforeEach(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY] });
    started = await startApolloApp(API_KEY, broker.url);
    texts.length = 0;
  });
  afterEach(async () => {
    await started.app.close();
    await broker.stop();
    for (const text of texts) expect(text).not.toContain(API_KEY);
    for (const line of started.logger.lines) expect(line).not.toContain(API_KEY);
  });

  const ran = () => [...started.app.get(Ledger).ran];
  const post = async (body: unknown, headers: Record<string, string> = {}): Promise<unknown> => {
    const res = await fetch(`${started.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const text = await res.text();
    texts.push(text);
    return JSON.parse(text);
  };
  const gql = (query: string, headers: Record<string, string> = {}) => post({ query }, headers) as Promise<GraphQLBody>;
  const pendingId = (body: GraphQLBody) => body.errors![0].extensions!.approvalId as string;
  const codes = (body: GraphQLBody) => (body.errors ?? []).map((e) => [e.path?.join('.'), e.extensions?.code]);

  describe('arguments that are class instances with accessors (bound as an opaque marker)', () => {
    // PROVEN HOLE. Blocking mode binds "what is not data" leniently (canonical-json.ts, `lenient`): an
    // instance of a class with a getter becomes ['opaque', 'an instance of Invoice, a class with getters...'],
    // with none of its fields. The human approves "Pay invoice inv1: 10"; while the gate waits another
    // request raises the shared invoice to 1,000,000; the re-check before the run (useOnce) compares two
    // identical markers and the payment of 1,000,000 runs on the approval for 10.
    it('blocking: an invoice (class with a getter) edited during the wait must not be paid on the approval the human gave for its old amount', async () => {
      await gql('mutation { createInvoice(id: "inv1", amount: 10, plain: false) }');
      const payment = gql('mutation { payInvoice(id: "inv1") }');
      const approval = await broker.waitForApproval((a) => a.action === 'invoice.pay' && a.status === 'pending');
      expect(approval).toMatchObject({ summary: 'Pay invoice inv1: 10', context: { id: 'inv1', amount: 10 } });
      await broker.waitForHeldWaits(1);

      await gql('mutation { editInvoice(id: "inv1", amount: 1000000) }');
      await broker.approve(approval.id);
      const answer = await payment;

      // Safe: nothing ran (APPROVAL_MISMATCH), as for plain data below. Against the code: ['pay:inv1:1000000'].
      expect(ran()).toEqual([]);
      expect(codes(answer)).toEqual([['payInvoice', 'APPROVAL_MISMATCH']]);
    });

    it('control: the same invoice as plain data, edited during the wait, is refused (APPROVAL_MISMATCH) and nothing runs', async () => {
      await gql('mutation { createInvoice(id: "inv2", amount: 10, plain: true) }');
      const payment = gql('mutation { payInvoice(id: "inv2") }');
      const approval = await broker.waitForApproval((a) => a.action === 'invoice.pay' && a.status === 'pending');
      await broker.waitForHeldWaits(1);
      await gql('mutation { editInvoice(id: "inv2", amount: 1000000) }');
      await broker.approve(approval.id);

      expect(codes(await payment)).toEqual([['payInvoice', 'APPROVAL_MISMATCH']]);
      expect(ran()).toEqual([]);
    });

    // PROVEN HOLE, same root cause on the policy path: runDecided() binds leniently before the policy and
    // compares after it. The policy reads amount 1 and allows it (no human at all); while its lookup is
    // slow the shared invoice becomes 1,000,000; both digests hold the same opaque marker, so the
    // payment of 1,000,000 runs with nobody asked.
    it("policy 'allow': an invoice (class with a getter) raised while the policy decides must not run at once on the policy's allow", async () => {
      await gql('mutation { createInvoice(id: "inv3", amount: 1, plain: false) }');
      const payment = gql('mutation { paySmallInvoice(id: "inv3") }');
      const latch = started.app.get(PolicyLatch);
      await latch.entered;
      await gql('mutation { editInvoice(id: "inv3", amount: 1000000) }');
      latch.release();
      const answer = await payment;

      // Safe: refused (its arguments changed while the policy decided). Against the code: ['small:inv3:1000000'].
      expect(ran()).toEqual([]);
      expect(codes(answer)).toEqual([['paySmallInvoice', 'APPROVAL_GATE_ERROR']]);
      expect(broker.list()).toEqual([]);
    });

    it('control: plain data raised while the policy decides is refused (APPROVAL_GATE_ERROR), nothing asked or run', async () => {
      await gql('mutation { createInvoice(id: "inv4", amount: 1, plain: true) }');
      const payment = gql('mutation { paySmallInvoice(id: "inv4") }');
      const latch = started.app.get(PolicyLatch);
      await latch.entered;
      await gql('mutation { editInvoice(id: "inv4", amount: 1000000) }');
      latch.release();

      expect(codes(await payment)).toEqual([['paySmallInvoice', 'APPROVAL_GATE_ERROR']]);
      expect(ran()).toEqual([]);
      expect(broker.list()).toEqual([]);
    });
  });

  describe("mode 'async' over GraphQL", () => {
    const alice = { 'x-user': 'alice' };
    const approvedRefund = async (amount: number) => {
      const id = pendingId(await gql(`mutation { asyncRefund(amount: ${amount}) }`, alice));
      await broker.approve(id);
      return id;
    };

    it('batched operations (Apollo allowBatchedHttpRequests) presenting one approval for the same call: it runs once', async () => {
      const id = await approvedRefund(7);
      const op = { query: 'mutation { asyncRefund(amount: 7) }' };
      const answers = (await post([op, op, op], { ...alice, 'sesame-approval-id': id })) as GraphQLBody[];

      expect(ran()).toEqual(['async:7']);
      expect(answers).toHaveLength(3);
      expect(answers.filter((a) => a.data?.asyncRefund === 7)).toHaveLength(1);
      for (const refused of answers.filter((a) => a.data?.asyncRefund !== 7)) {
        expect(codes(refused)).toEqual([['asyncRefund', expect.stringMatching(/^APPROVAL_(ALREADY_USED|IN_USE)$/)]]);
      }
    });

    it('a batch mixing the approved call with other arguments, another action and another field: only the approved call runs', async () => {
      const id = await approvedRefund(8);
      const answers = (await post(
        [
          { query: 'mutation { asyncRefund(amount: 80) }' },
          { query: 'mutation { asyncChargeback(amount: 8) }' },
          { query: 'mutation Via($a: Int!) { x: asyncRefund(amount: $a) }', variables: { a: 8 } },
          { query: 'fragment F on Mutation { asyncRefund(amount: 8) } mutation { ...F }' },
        ],
        { ...alice, 'sesame-approval-id': id },
      )) as GraphQLBody[];

      expect(ran()).toEqual(['async:8']);
      expect(codes(answers[0])).toEqual([['asyncRefund', 'APPROVAL_MISMATCH']]);
      expect(codes(answers[1])).toEqual([['asyncChargeback', 'APPROVAL_MISMATCH']]);
      // Variables and the fragment are the same call: one of them ran, the other is refused as used (or in use).
      const ranVia = [answers[2].data?.x, answers[3].data?.asyncRefund].filter((v) => v === 8);
      expect(ranVia).toHaveLength(1);
    });

    it('the header with an approval for another action (same arguments, same user): APPROVAL_MISMATCH, nothing runs, the approval stays usable', async () => {
      const id = await approvedRefund(9);
      const answer = await gql('mutation { asyncChargeback(amount: 9) }', { ...alice, 'sesame-approval-id': id });
      expect(codes(answer)).toEqual([['asyncChargeback', 'APPROVAL_MISMATCH']]);
      expect(answer.errors![0].extensions).toMatchObject({ sesameCode: 'approval_action_mismatch', approvalId: id });
      expect(ran()).toEqual([]);
      expect((await gql('mutation { asyncRefund(amount: 9) }', { ...alice, 'sesame-approval-id': id })).data).toEqual({ asyncRefund: 9 });
      expect(ran()).toEqual(['async:9']);
    });

    it('a client-sent variable or extension named like the requester does not become it: bob with a body claiming alice is refused', async () => {
      const id = await approvedRefund(10);
      const answer = (await post(
        { query: 'mutation { asyncRefund(amount: 10) }', variables: { user: { id: 'alice' } }, extensions: { user: { id: 'alice' }, req: { user: { id: 'alice' } } } },
        { 'x-user': 'bob', 'sesame-approval-id': id },
      )) as GraphQLBody;
      expect(codes(answer)).toEqual([['asyncRefund', 'APPROVAL_MISMATCH']]);
      expect(ran()).toEqual([]);
    });

    it('an approval granted over REST (same action, argument and user) does not run the GraphQL resolver, nor the reverse: the binding names the method', async () => {
      const rest = await fetch(`${started.url}/refunds/11`, { method: 'POST', headers: alice });
      expect(rest.status).toBe(202);
      const restId = rest.headers.get('sesame-approval-id')!;
      await broker.approve(restId);

      const overGraphQL = await gql('mutation { asyncRefund(amount: 11) }', { ...alice, 'sesame-approval-id': restId });
      expect(codes(overGraphQL)).toEqual([['asyncRefund', 'APPROVAL_MISMATCH']]);
      expect(ran()).toEqual([]);

      const gqlId = await approvedRefund(12);
      const overRest = await fetch(`${started.url}/refunds/12`, { method: 'POST', headers: { ...alice, 'sesame-approval-id': gqlId } });
      expect(overRest.status).toBe(403);
      expect(await overRest.json()).toMatchObject({ code: 'approval_mismatch', approvalId: gqlId });
      expect(ran()).toEqual([]);

      // Each still runs its own call once.
      expect((await fetch(`${started.url}/refunds/11`, { method: 'POST', headers: { ...alice, 'sesame-approval-id': restId } })).status).toBe(201);
      expect((await gql('mutation { asyncRefund(amount: 12) }', { ...alice, 'sesame-approval-id': gqlId })).data).toEqual({ asyncRefund: 12 });
      expect(ran()).toEqual(['rest-async:11', 'async:12']);
    });

    it('a gated async @ResolveField (Nest runs no interceptor on field resolvers by default): fails closed, nothing asked or run, even with an approval of the parent query', async () => {
      const answer = await gql('{ orders(ids: ["o1", "o1"]) { id secret } }', alice);
      expect(answer.data).toEqual({
        orders: [
          { id: 'o1', secret: null },
          { id: 'o1', secret: null },
        ],
      });
      // Refused before anything is asked (no scope: Nest ran the field without the gate's interceptor); no filter runs there either, so it is Nest's INTERNAL_SERVER_ERROR.
      expect(codes(answer)).toEqual([
        ['orders.0.secret', 'INTERNAL_SERVER_ERROR'],
        ['orders.1.secret', 'INTERNAL_SERVER_ERROR'],
      ]);
      expect(answer.errors![0].message).toContain("fieldResolverEnhancers: ['interceptors', 'filters']");
      expect(ran()).toEqual([]);
      expect(broker.list()).toEqual([]);
    });

    it('a gated resolver method called as a function from an ungated resolver, with a valid approval for that call in the header: refused, nothing runs', async () => {
      const id = await approvedRefund(13);
      const answer = await gql('mutation { relayRefund(amount: 13) }', { ...alice, 'sesame-approval-id': id });
      expect(codes(answer)).toEqual([['relayRefund', 'APPROVAL_GATE_ERROR']]);
      expect(ran()).toEqual([]);
      // The approval was not consumed: the real call still runs once.
      expect((await gql('mutation { asyncRefund(amount: 13) }', { ...alice, 'sesame-approval-id': id })).data).toEqual({ asyncRefund: 13 });
      expect(ran()).toEqual(['async:13']);
    });

    it('a gated resolver method called as a function from another gated resolver (after its own approval): the inner call fails closed', async () => {
      const id = await approvedRefund(14);
      const answer = gql('mutation { gatedRelay(amount: 14) }', { ...alice, 'sesame-approval-id': id });
      const relay = await broker.waitForApproval((a) => a.action === 'payments.relay' && a.status === 'pending');
      await broker.approve(relay.id);
      expect((await answer).data).toEqual({ gatedRelay: null });
      expect(ran()).toEqual(['relay:14', 'relay-inner-refused:ApprovalHandlerContextError']);
    });
  });

  describe('a gated blocking @ResolveField (no interceptor on field resolvers by default)', () => {
    const timedOut = (body: GraphQLBody, path: string) => expect(codes(body)).toEqual([[path, 'APPROVAL_TIMEOUT']]);

    // Found by this suite: Nest runs no enhancers on @ResolveField unless GraphQLModule sets fieldResolverEnhancers, so the
    // gate's interceptor never entered a scope for the field and scopeFor() bound it as outside any request, with no
    // requester: with a dedupKey, bob's call found the approval asked for alice's, and its approval ran bob's call. A
    // handler run with no scope now fails closed (ApprovalRequestContext.scopeFor).
    it('without fieldResolverEnhancers a gated @ResolveField does not run: nothing is asked, the error names the fix', async () => {
      const alice = await gql('{ orders(ids: ["o5"]) { id note } }', { 'x-user': 'alice' });
      expect(alice.data).toEqual({ orders: [{ id: 'o5', note: null }] });
      expect(alice.errors).toHaveLength(1);
      expect(alice.errors![0].path).toEqual(['orders', 0, 'note']);
      expect(alice.errors![0].message).toContain("fieldResolverEnhancers: ['interceptors', 'filters']");
      expect(ran()).toEqual([]);
      expect(broker.list()).toEqual([]);
    });

    it("with fieldResolverEnhancers the field is bound to its requester: bob's call gets an approval of its own, alice's runs nothing of his", async () => {
      await started.app.close();
      started = await startApolloApp(API_KEY, broker.url, { fieldResolverEnhancers: ['interceptors', 'filters'] });
      const alice = await gql('{ orders(ids: ["o5"]) { id note } }', { 'x-user': 'alice' });
      expect(codes(alice)).toEqual([['orders.0.note', 'APPROVAL_TIMEOUT']]);
      const [alices] = broker.list();
      const bob = gql('{ orders(ids: ["o5"]) { id note } }', { 'x-user': 'bob' });
      const bobs = await broker.waitForApproval((a) => a.action === 'orders.read-note' && a.status === 'pending' && a.id !== alices.id);
      await broker.approve(alices.id);
      expect(ran()).toEqual([]);
      await broker.approve(bobs.id);
      expect((await bob).data).toEqual({ orders: [{ id: 'o5', note: 'note of o5' }] });
      expect(ran()).toEqual(['note:o5']);
      expect(broker.list()).toHaveLength(2);
    });

    it("control: the same gate on a root query field binds the requester: bob gets an approval of his own, alice's approval runs nothing of his", async () => {
      timedOut(await gql('{ orderNote(id: "o6") }', { 'x-user': 'alice' }), 'orderNote');
      const [alices] = broker.list();
      const bob = gql('{ orderNote(id: "o6") }', { 'x-user': 'bob' });
      const bobs = await broker.waitForApproval((a) => a.action === 'orders.read-note' && a.status === 'pending' && a.id !== alices.id);
      await broker.approve(alices.id);
      await broker.approve(bobs.id);
      expect((await bob).data).toEqual({ orderNote: 'note of o6' });
      expect(ran()).toEqual(['order-note:o6']);
      expect(broker.list()).toHaveLength(2);
    });
  });
});

describe('attack 5: a Redis microservice, messages replayed', () => {
  let redis: RedisServer;
  let broker: LocalBroker;
  let service: Awaited<ReturnType<typeof startRedisMicroservice>>;
  let client: ClientProxy;
  let publisher: Redis;
  let sniffer: Redis;
  const packets: { channel: string; message: string }[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  beforeEach(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY] });
    service = await startRedisMicroservice(API_KEY, broker.url, redis.port);
    client = ClientProxyFactory.create({ transport: Transport.REDIS, options: { host: '127.0.0.1', port: redis.port } });
    await client.connect();
    publisher = new Redis(redis.port, '127.0.0.1');
    sniffer = new Redis(redis.port, '127.0.0.1');
    packets.length = 0;
    sniffer.on('message', (channel: string, message: string) => packets.push({ channel, message }));
    await sniffer.subscribe('transfer', 'transfer.each');
  });
  afterEach(async () => {
    await client.close();
    publisher.disconnect();
    sniffer.disconnect();
    await service.app.close();
    await broker.stop();
    for (const line of service.logger.lines) expect(line).not.toContain(API_KEY);
  });

  const until = async (condition: () => boolean, what: string) => {
    for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    if (!condition()) throw new Error(`timed out waiting for ${what}`);
  };

  it('dedupKey handler: the same packet published again while it waits, and again after it ran, runs the transfer once', async () => {
    const reply = firstValueFrom(client.send('transfer', { to: 'acct_9', amount: 500 }));
    const approval = await broker.waitForApproval((a) => a.action === 'payments.transfer' && a.status === 'pending');
    await until(() => packets.length === 1, 'the sniffed packet');
    const [{ channel, message }] = packets;
    // Replay while the first waits: same key, same binding, so the same approval.
    await publisher.publish(channel, message);
    await broker.waitForHeldWaits(2);
    await broker.approve(approval.id);
    expect(await reply).toEqual({ sent: 500 });
    await until(() => service.logger.lines.some((l) => l.includes('already used')), 'the replay refused');

    // Replay after it ran.
    await publisher.publish(channel, message);
    await until(() => service.logger.lines.filter((l) => l.includes('already used')).length === 2, 'the late replay refused');
    expect(service.ledger.ran).toEqual(['transfer:acct_9:500']);
    expect(broker.list()).toHaveLength(1);
  });

  it('no dedupKey: a replayed packet asks for an approval of its own; approving the first runs one transfer', async () => {
    const reply = firstValueFrom(client.send('transfer.each', { to: 'acct_7', amount: 70 }));
    const first = await broker.waitForApproval((a) => a.action === 'payments.transfer-each' && a.status === 'pending');
    await until(() => packets.length === 1, 'the sniffed packet');
    await publisher.publish(packets[0].channel, packets[0].message);
    const second = await broker.waitForApproval((a) => a.action === 'payments.transfer-each' && a.status === 'pending' && a.id !== first.id);
    await broker.approve(first.id);
    expect(await reply).toEqual({ sent: 70 });
    expect(service.ledger.ran).toEqual(['transfer:acct_7:70'.replace('transfer', 'each')]);
    await broker.deny(second.id);
    await until(() => service.logger.lines.some((l) => l.includes(second.id) && l.includes('denied')), 'the replay denied');
    expect(service.ledger.ran).toEqual(['each:acct_7:70']);
  });
});
