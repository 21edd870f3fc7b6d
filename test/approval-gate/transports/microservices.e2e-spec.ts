import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { LocalBroker } from '../../../lib/testing/index.js';
import { postJson } from '../../support/http-requests.js';
import { RedisServer } from '../../support/redis-server.js';
import {
  POLICY_REASON,
  decideByAmount,
  sendFor,
  startHybridApp,
  startMicroservice,
  until,
  type StartedHybridApp,
  type StartedMicroservice,
  type TransportName,
} from './microservices-fixtures.js';

const API_KEY = 'sk_test_SECRET_rpc_3f9c';
const WRONG_KEY = 'sk_test_SECRET_wrong_rpc_77d0';

const TRANSPORTS: TransportName[] = ['tcp', 'redis'];

describe.each(TRANSPORTS)('@RequireApproval on microservice handlers (%s)', (transport) => {
  let redis: RedisServer | undefined;
  let broker: LocalBroker;
  let service: StartedMicroservice;
  /** Every error a client received in this test: none may carry the API key. */
  let received: unknown[];

  const boot = async (baseUrl: string, apiKey = API_KEY) => {
    service = await startMicroservice({ transport, apiKey, baseUrl, redisPort: redis?.port });
  };
  const send = async (pattern: string, data: unknown, client = service.client) => {
    const answer = await sendFor(client, pattern, data);
    if ('error' in answer) received.push(answer.error);
    return answer;
  };
  const only = () => {
    const approvals = broker.list();
    expect(approvals).toHaveLength(1);
    return approvals[0];
  };

  beforeAll(async () => {
    if (transport === 'redis') redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  beforeEach(async () => {
    received = [];
    broker = await LocalBroker.start({ apiKeys: [API_KEY], decide: decideByAmount });
    await boot(broker.url);
  });
  afterEach(async () => {
    await service?.client.close();
    await service?.app.close();
    await broker?.stop();
    const everything = JSON.stringify(received) + '\n' + service.logger.lines.join('\n');
    expect(everything).not.toContain(API_KEY);
    expect(everything).not.toContain(WRONG_KEY);
  });

  it('approved: the handler runs once and the client gets its reply; the human saw the computed summary', async () => {
    expect(await send('refund', { amount: 42, customerId: 'cus_1' })).toEqual({ reply: { refunded: 42, to: 'cus_1' } });
    expect(service.ledger.ran).toEqual(['refund:42']);
    expect(only()).toMatchObject({ action: 'payments.refund', summary: 'Refund 42 to cus_1', context: { amount: 42, customerId: 'cus_1' }, status: 'approved' });
  });

  it('waits for the human: nothing runs until the click', async () => {
    const answer = send('refund', { amount: 77, customerId: 'cus_2' });
    const approval = await broker.waitForApproval((a) => a.action === 'payments.refund');
    await broker.waitForHeldWaits(1);
    expect(service.ledger.ran).toEqual([]);
    await broker.approve(approval.id);
    expect(await answer).toEqual({ reply: { refunded: 77, to: 'cus_2' } });
    expect(service.ledger.ran).toEqual(['refund:77']);
  });

  it('denied: the client gets exactly { code, message, approvalId, status }; nothing runs', async () => {
    const { error } = await send('refund', { amount: 13, customerId: 'cus_1' });
    const { id } = only();
    expect(error).toEqual({ code: 'approval_denied', message: `Approval ${id} was denied`, approvalId: id, status: 'denied' });
    // These fields and no others (no HTTP status, no stack, no cause).
    expect(Object.keys(error as object).sort()).toEqual(['approvalId', 'code', 'message', 'status']);
    expect(service.ledger.ran).toEqual([]);
  });

  it('expired: approval_expired with status expired; nothing runs', async () => {
    const answer = send('refund', { amount: 55, customerId: 'cus_1' });
    const approval = await broker.waitForApproval((a) => a.action === 'payments.refund');
    await broker.expire(approval.id);
    expect((await answer).error).toEqual({ code: 'approval_expired', message: `Approval ${approval.id} was expired`, approvalId: approval.id, status: 'expired' });
    expect(service.ledger.ran).toEqual([]);
  });

  it('no decision before the timeout: approval_timeout, the approval still pending; nothing runs', async () => {
    const { error } = await send('refund.quick', { amount: 55, customerId: 'cus_1' });
    const { id } = only();
    expect(error).toEqual({ code: 'approval_timeout', message: `Approval ${id} was not decided within 300 ms`, approvalId: id, status: 'pending' });
    expect(service.ledger.ran).toEqual([]);
  });

  it('broker unreachable: approval_broker_unavailable, and nothing runs', async () => {
    await service.client.close();
    await service.app.close();
    const url = broker.url;
    await broker.stop();
    await boot(url);
    const { error } = await send('refund', { amount: 42, customerId: 'cus_1' });
    expect(error).toEqual({ code: 'approval_broker_unavailable', message: 'The approval service is unavailable; nothing was run. Retry later.' });
    expect(service.ledger.ran).toEqual([]);
    broker = await LocalBroker.start({ apiKeys: [API_KEY] }); // afterEach stops it
  });

  it('a rejected API key: approval_gate_error, an error log naming SESAME_API_KEY, neither key anywhere, nothing runs', async () => {
    await service.client.close();
    await service.app.close();
    await boot(broker.url, WRONG_KEY);
    const { error } = await send('refund', { amount: 42, customerId: 'cus_1' });
    expect(error).toEqual({ code: 'approval_gate_error', message: 'The approval gate is misconfigured; nothing was run.' });
    expect(service.ledger.ran).toEqual([]);
    expect(service.logger.lines.some((l) => l.startsWith('error') && l.includes('SESAME_API_KEY'))).toBe(true);
    // afterEach checks that neither key reached the client's error or a log line.
  });

  it("the policy's allow: runs at once, nothing is asked of the broker", async () => {
    expect(await send('refund', { amount: 3, customerId: 'cus_1' })).toEqual({ reply: { refunded: 3, to: 'cus_1' } });
    expect(service.ledger.ran).toEqual(['refund:3']);
    expect(broker.list()).toEqual([]);
  });

  it("the policy's deny: approval_policy_denied with its reason, nothing asked, nothing runs", async () => {
    const { error } = await send('refund', { amount: 9_500, customerId: 'cus_1' });
    expect(error).toEqual({ code: 'approval_policy_denied', message: 'The approval policy refused this call; nothing was asked or run.', reason: POLICY_REASON });
    expect(service.ledger.ran).toEqual([]);
    expect(broker.list()).toEqual([]);
  });

  it("mode 'async' on a message handler: approval_gate_error, nothing triggered, nothing runs", async () => {
    const { error } = await send('refund.async', { amount: 42, customerId: 'cus_1' });
    expect(error).toEqual({ code: 'approval_gate_error', message: 'The approval gate is misconfigured; nothing was run.' });
    expect(service.ledger.ran).toEqual([]);
    expect(broker.list()).toEqual([]);
    expect(service.logger.lines.some((l) => l.startsWith('error') && l.includes("RefundHandlers.asyncRefund() is gated with mode 'async'"))).toBe(true);
  });

  it('an event handler refused: nothing runs, and a warn line says so', async () => {
    service.client.emit('refund.requested', { amount: 13, customerId: 'cus_1' });
    const refused = (l: string) => l.startsWith('warn') && l.includes('Event handler refused, nothing ran: approval_denied');
    await until(() => service.logger.lines.some(refused), 'the refusal is logged');
    const { id } = only();
    expect(service.logger.lines.filter(refused)).toEqual([expect.stringContaining(`Event handler refused, nothing ran: approval_denied id=${id}`)]);
    // The service is still serving, and the refused handler did not run.
    expect(await send('ping', { n: 1 })).toEqual({ reply: { pong: 1 } });
    expect(service.ledger.ran).toEqual(['ping:1']);
  });

  it('an approved event: the handler runs once', async () => {
    service.client.emit('refund.requested', { amount: 42, customerId: 'cus_1' });
    await until(() => service.ledger.ran.length > 0, 'the event handler runs');
    expect(only()).toMatchObject({ action: 'payments.refund-requested', summary: 'Refund 42 to cus_1', status: 'approved' });
    expect(await send('ping', { n: 2 })).toEqual({ reply: { pong: 2 } });
    expect(service.ledger.ran).toEqual(['event:42', 'ping:2']);
    expect(service.logger.lines.filter((l) => l.includes('Event handler refused'))).toEqual([]);
  });

  it('an ungated message pattern on the same service answers normally, with nothing asked', async () => {
    expect(await send('ping', { n: 7 })).toEqual({ reply: { pong: 7 } });
    expect(service.ledger.ran).toEqual(['ping:7']);
    expect(broker.list()).toEqual([]);
  });

  if (transport === 'tcp') {
    it('the client closes its connection during the wait: the wait stops, and a later approval runs nothing', async () => {
      const leaving = service.newClient();
      await leaving.connect();
      const answer = send('refund', { amount: 66, customerId: 'cus_1' }, leaving);
      const approval = await broker.waitForApproval((a) => a.action === 'payments.refund');
      await broker.waitForHeldWaits(1);
      await leaving.close();
      expect((await answer).error).toMatchObject({ message: 'Connection closed' });
      // The gate stopped waiting on the broker: the socket's close aborted it.
      await broker.waitForHeldWaits(0);
      await broker.approve(approval.id);
      expect(await send('ping', { n: 3 })).toEqual({ reply: { pong: 3 } });
      expect(service.ledger.ran).toEqual(['ping:3']);
    });
  }
});

describe('a hybrid app (HTTP and a TCP microservice, without inheritAppConfig)', () => {
  let broker: LocalBroker;
  let hybrid: StartedHybridApp;
  const received: unknown[] = [];

  beforeAll(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY], decide: decideByAmount });
    hybrid = await startHybridApp({ apiKey: API_KEY, baseUrl: broker.url });
  });
  afterAll(async () => {
    await hybrid?.client.close();
    await hybrid?.app.close();
    await broker?.stop();
    expect(JSON.stringify(received) + '\n' + hybrid.logger.lines.join('\n')).not.toContain(API_KEY);
  });

  it('a gated route answers its REST outcome: 403 with the approval_denied body; nothing runs', async () => {
    const { status, body } = await postJson(`${hybrid.url}/refunds`, { amount: 13, customerId: 'cus_1' });
    const approval = broker.list().find((a) => a.action === 'payments.http-refund')!;
    expect(status).toBe(403);
    expect(body).toEqual({ statusCode: 403, code: 'approval_denied', message: `Approval ${approval.id} was denied`, approvalId: approval.id, status: 'denied' });
    expect(hybrid.ledger.ran).toEqual([]);
  });

  it('a gated message pattern answers its RPC error object; nothing runs', async () => {
    const { error } = await sendFor(hybrid.client, 'refund', { amount: 13, customerId: 'cus_2' });
    received.push(error);
    const approval = broker.list().find((a) => a.action === 'payments.refund')!;
    expect(error).toEqual({ code: 'approval_denied', message: `Approval ${approval.id} was denied`, approvalId: approval.id, status: 'denied' });
    expect(hybrid.ledger.ran).toEqual([]);
  });

  it('approved on both: the route and the pattern each run once', async () => {
    const { status, body } = await postJson(`${hybrid.url}/refunds`, { amount: 42, customerId: 'cus_3' });
    expect(status).toBe(201);
    expect(body).toEqual({ refunded: 42 });
    expect(await sendFor(hybrid.client, 'refund', { amount: 42, customerId: 'cus_4' })).toEqual({ reply: { refunded: 42, to: 'cus_4' } });
    expect(hybrid.ledger.ran).toEqual(['http:42', 'refund:42']);
  });
});
