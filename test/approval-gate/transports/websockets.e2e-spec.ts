import type { IncomingMessage } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { Injectable, UseFilters, UseGuards, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { MessageBody, SubscribeMessage, WebSocketGateway, type OnGatewayConnection } from '@nestjs/websockets';
import { RequireApproval, type ApprovalPolicy, type ApprovalPolicyCall, type ApprovalPolicyDecision } from '../../../lib/index.js';
import { LocalBroker } from '../../../lib/testing/index.js';
// Not exported by the package (see the ungated-handler tests below): a gateway cannot name it today.
import { ApprovalExceptionFilter } from '../../../lib/approval-gate/approval-exception.filter.js';
import type { StartedApp } from '../../support/nest-apps.js';
import { Ledger } from '../../support/ledger.js';
import { SOCKET_KINDS, connectSocket, sleep, startSocketApp, type SocketClient, type SocketKind } from './websockets-fixtures.js';

const API_KEY = 'sk_test_SECRET_sockets_3f9a';
/** Long enough for a wrongly resumed handler to have run, on a loaded 2-core machine. */
const SETTLE_MS = 500;

interface RefundData {
  amount: number;
  orderId: string;
}

const POLICY_REASON = 'refunds over sockets are closed tonight';

/** The module's policy: lets one action run, refuses another, asks a human for the rest; keeps what it was shown. */
@Injectable()
class ActionPolicy implements ApprovalPolicy {
  readonly calls: ApprovalPolicyCall[] = [];
  evaluate(call: ApprovalPolicyCall): ApprovalPolicyDecision {
    this.calls.push(call);
    if (call.action === 'ops.policy-allowed') return 'allow';
    if (call.action === 'ops.policy-denied') return { deny: POLICY_REASON };
    return 'ask';
  }
}

/** socket.io: the handshake's `?user=` as `client.data.user`, where the gate reads the requester. */
@Injectable()
class SocketUserGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const client = context.switchToWs().getClient<{ handshake?: { query: Record<string, unknown> }; data?: { user?: unknown } }>();
    const user = client.handshake?.query.user;
    if (client.data && typeof user === 'string') client.data.user = { id: user };
    return true;
  }
}

/** A gated provider method, called from ungated socket handlers. */
@Injectable()
class PurgeService {
  constructor(private readonly ledger: Ledger) {}

  @RequireApproval('db.purge', { summary: (table: string) => `Purge ${table}` })
  purge(table: string): { purged: string } {
    this.ledger.ran.push(`purge:${table}`);
    return { purged: table };
  }
}

@WebSocketGateway()
@UseGuards(SocketUserGuard)
class RefundsGateway implements OnGatewayConnection {
  /** The server side of every connection, to count what the gate leaves registered on it. */
  readonly connections: { listenerCount(event: string): number }[] = [];

  constructor(
    private readonly ledger: Ledger,
    private readonly purger: PurgeService,
  ) {}

  // ws: the upgrade request (and its `?user=`) is only seen here; the gate reads `client.user`.
  handleConnection(client: { user?: unknown; listenerCount(event: string): number }, request?: IncomingMessage): void {
    this.connections.push(client);
    const user = request?.url === undefined ? null : new URL(request.url, 'http://localhost').searchParams.get('user');
    if (user) client.user = { id: user };
  }

  @SubscribeMessage('refund')
  @RequireApproval('payments.refund', {
    summary: (data: RefundData) => `Refund ${data.amount} on ${data.orderId}`,
    context: (data: RefundData) => ({ amount: data.amount, orderId: data.orderId }),
  })
  refund(@MessageBody() data: RefundData) {
    this.ledger.ran.push(`refund:${data.amount}:${data.orderId}`);
    return { event: 'refunded', data: { refunded: data.amount, orderId: data.orderId } };
  }

  // @SubscribeMessage below @RequireApproval: its metadata must be carried over to the gated method.
  @RequireApproval('payments.quick-refund', { timeout: 300, expiresIn: 60_000 })
  @SubscribeMessage('quick-refund')
  quickRefund(@MessageBody() data: RefundData) {
    this.ledger.ran.push(`quick:${data.amount}`);
    return { event: 'refunded', data: { refunded: data.amount } };
  }

  @SubscribeMessage('allowed')
  @RequireApproval('ops.policy-allowed')
  allowed(@MessageBody() data: RefundData) {
    this.ledger.ran.push(`allowed:${data.amount}`);
    return { event: 'allowed-done', data: { amount: data.amount } };
  }

  @SubscribeMessage('denied')
  @RequireApproval('ops.policy-denied')
  denied(@MessageBody() data: RefundData) {
    this.ledger.ran.push(`denied:${data.amount}`);
    return { event: 'denied-done', data: {} };
  }

  @SubscribeMessage('small-refund')
  @RequireApproval('payments.small-refund', { when: (data: RefundData) => data.amount >= 100 })
  smallRefund(@MessageBody() data: RefundData) {
    this.ledger.ran.push(`small:${data.amount}`);
    return { event: 'refunded', data: { refunded: data.amount } };
  }

  @SubscribeMessage('async-refund')
  @RequireApproval('payments.async-refund', { mode: 'async' })
  asyncRefund(@MessageBody() data: RefundData) {
    this.ledger.ran.push(`async:${data.amount}`);
    return { event: 'refunded', data: { refunded: data.amount } };
  }

  @SubscribeMessage('shared-refund')
  @RequireApproval('payments.shared-refund', { dedupKey: (data: RefundData) => `refund:${data.orderId}` })
  sharedRefund(@MessageBody() data: RefundData) {
    this.ledger.ran.push(`shared:${data.amount}:${data.orderId}`);
    return { event: 'refunded', data: { refunded: data.amount, orderId: data.orderId } };
  }

  // socket.io ack: a plain return value goes back through the client's ack callback.
  @SubscribeMessage('refund-ack')
  @RequireApproval('payments.refund-ack')
  refundAck(@MessageBody() data: RefundData) {
    this.ledger.ran.push(`ack:${data.amount}`);
    return { refunded: data.amount };
  }

  // Ungated: Nest gives gateways no app-wide filter, so SesameModule's APP_FILTER does not answer here.
  @SubscribeMessage('purge')
  async purge(@MessageBody() data: { table: string }) {
    return { event: 'purged', data: await this.purger.purge(data.table) };
  }

  @SubscribeMessage('purge-answered')
  @UseFilters(ApprovalExceptionFilter)
  async purgeAnswered(@MessageBody() data: { table: string }) {
    return { event: 'purged', data: await this.purger.purge(data.table) };
  }

  @SubscribeMessage('ping')
  ping(@MessageBody() data: { n: number }) {
    return { event: 'pong', data: { n: data.n } };
  }
}

const refund: RefundData = { amount: 42, orderId: 'ord_1' };

describe.each(SOCKET_KINDS)('@RequireApproval on a WebSocket gateway (%s)', (kind: SocketKind) => {
  let broker: LocalBroker;
  let started: StartedApp;
  let ledger: Ledger;
  let clients: SocketClient[];
  let extraApps: { app: StartedApp; broker: LocalBroker }[];

  const boot = async (baseUrl?: string) => {
    const gated = await startSocketApp(kind, {
      apiKey: API_KEY,
      sesame: { retry: { retries: 1, minDelay: 1, maxDelay: 2 }, policy: ActionPolicy, ...(baseUrl !== undefined && { baseUrl }) },
      providers: [Ledger, ActionPolicy, SocketUserGuard, PurgeService, RefundsGateway],
    });
    return { app: gated.started, broker: gated.broker };
  };
  const connect = async (user?: string, app: StartedApp = started) => {
    const client = await connectSocket(kind, app.url, user);
    clients.push(client);
    return client;
  };
  const pendingApproval = (action: string, except: string[] = []) => broker.waitForApproval((a) => a.status === 'pending' && a.action === action && !except.includes(a.id));

  beforeEach(async () => {
    clients = [];
    extraApps = [];
    ({ app: started, broker } = await boot());
    ledger = started.app.get(Ledger);
  });
  afterEach(async () => {
    await Promise.all(clients.map((client) => client.close()));
    for (const { app, broker: other } of [{ app: started, broker }, ...extraApps]) {
      await app.app.close();
      await other.stop();
      for (const line of app.logger.lines) expect(line).not.toContain(API_KEY);
    }
    // The key never reaches a client either, whatever the outcome.
    for (const client of clients) expect(JSON.stringify(client.received)).not.toContain(API_KEY);
  });

  it('approve: the handler runs once, after the decision, and its answer arrives', async () => {
    const client = await connect('alice');
    client.send('refund', refund);
    const approval = await pendingApproval('payments.refund');
    expect(approval).toMatchObject({ summary: 'Refund 42 on ord_1', context: { amount: 42, orderId: 'ord_1' } });
    expect(ledger.ran).toEqual([]);

    await broker.approve(approval.id);
    expect(await client.next('refunded')).toEqual({ refunded: 42, orderId: 'ord_1' });
    await sleep(SETTLE_MS);
    expect(ledger.ran).toEqual(['refund:42:ord_1']);
    expect(client.received).toEqual([{ event: 'refunded', data: { refunded: 42, orderId: 'ord_1' } }]);
    expect(broker.list()).toHaveLength(1);
    expect(started.logger.lines).toContainEqual(expect.stringContaining(`Approval used: action=payments.refund id=${approval.id} runs RefundsGateway.refund`));
  });

  it('deny: an exception event with the exact outcome, nothing ran; the socket keeps serving gated messages', async () => {
    const client = await connect('alice');
    client.send('refund', refund);
    const denied = await pendingApproval('payments.refund');
    await broker.deny(denied.id);

    expect(await client.next('exception')).toEqual({
      status: 'error',
      code: 'approval_denied',
      message: `Approval ${denied.id} was denied`,
      approvalId: denied.id,
      approvalStatus: 'denied',
    });
    expect(ledger.ran).toEqual([]);

    // The refusal did not silence the client's stream: the same message asks again, and runs once approved.
    client.send('refund', refund);
    const second = await pendingApproval('payments.refund', [denied.id]);
    await broker.approve(second.id);
    expect(await client.next('refunded')).toEqual({ refunded: 42, orderId: 'ord_1' });
    expect(ledger.ran).toEqual(['refund:42:ord_1']);
  });

  it('expire: approval_expired, nothing ran', async () => {
    const client = await connect('alice');
    client.send('refund', refund);
    const approval = await pendingApproval('payments.refund');
    await broker.expire(approval.id);

    expect(await client.next('exception')).toEqual({
      status: 'error',
      code: 'approval_expired',
      message: `Approval ${approval.id} was expired`,
      approvalId: approval.id,
      approvalStatus: 'expired',
    });
    await sleep(SETTLE_MS);
    expect(ledger.ran).toEqual([]);
  });

  it('timeout: approval_timeout with the pending approval; a late approval runs nothing', async () => {
    const client = await connect('alice');
    client.send('quick-refund', refund);
    const approval = await pendingApproval('payments.quick-refund');

    expect(await client.next('exception')).toEqual({
      status: 'error',
      code: 'approval_timeout',
      message: `Approval ${approval.id} was not decided within 300 ms`,
      approvalId: approval.id,
      approvalStatus: 'pending',
    });
    // expiresIn 60 s: the approval is still open to a human, but nobody waits on it any more.
    await broker.approve(approval.id);
    await sleep(SETTLE_MS);
    expect(ledger.ran).toEqual([]);
    expect(client.received.map((m) => m.event)).toEqual(['exception']);
  });

  it('broker down: approval_broker_unavailable, nothing ran, the key in no log line', async () => {
    const dead = await LocalBroker.start({ apiKeys: [API_KEY] });
    await dead.stop();
    const down = await boot(dead.url);
    extraApps.push(down);
    const client = await connect('alice', down.app);

    client.send('refund', refund);
    expect(await client.next('exception')).toEqual({
      status: 'error',
      code: 'approval_broker_unavailable',
      message: 'The approval service is unavailable; nothing was run. Retry later.',
    });
    expect(down.app.app.get(Ledger).ran).toEqual([]);
    expect(down.broker.list()).toEqual([]);
    expect(down.app.logger.lines).toContainEqual(expect.stringMatching(/^error /));
  });

  it('policy allow: runs at once with no approval asked; the policy saw the ws call and its requester, not the socket', async () => {
    const client = await connect('alice');
    client.send('allowed', { amount: 7, orderId: 'ord_7' });

    expect(await client.next('allowed-done')).toEqual({ amount: 7 });
    expect(ledger.ran).toEqual(['allowed:7']);
    expect(broker.list()).toEqual([]);
    const policy = started.app.get(ActionPolicy);
    expect(policy.calls).toEqual([
      { action: 'ops.policy-allowed', className: 'RefundsGateway', methodName: 'allowed', args: [{ amount: 7, orderId: 'ord_7' }], requester: 'alice', transport: 'ws' },
    ]);
  });

  it('policy deny: approval_policy_denied with its reason, nothing asked or run', async () => {
    const client = await connect('alice');
    client.send('denied', refund);

    expect(await client.next('exception')).toEqual({
      status: 'error',
      code: 'approval_policy_denied',
      message: 'The approval policy refused this call; nothing was asked or run.',
      reason: POLICY_REASON,
    });
    await sleep(SETTLE_MS);
    expect(ledger.ran).toEqual([]);
    expect(broker.list()).toEqual([]);
    expect(started.logger.lines).toContainEqual(
      expect.stringContaining(`Approval refused by the policy: action=ops.policy-denied for RefundsGateway.denied: ${POLICY_REASON}`),
    );
  });

  it('when false: runs at once with no approval; when true: a human is asked', async () => {
    const client = await connect('alice');
    client.send('small-refund', { amount: 5, orderId: 'ord_5' });
    expect(await client.next('refunded')).toEqual({ refunded: 5 });
    expect(ledger.ran).toEqual(['small:5']);
    expect(broker.list()).toEqual([]);

    client.send('small-refund', { amount: 500, orderId: 'ord_500' });
    const approval = await pendingApproval('payments.small-refund');
    expect(ledger.ran).toEqual(['small:5']);
    await broker.approve(approval.id);
    expect(await client.next('refunded')).toEqual({ refunded: 500 });
    expect(ledger.ran).toEqual(['small:5', 'small:500']);
  });

  it("mode 'async': approval_gate_error (a socket cannot repeat with an approval id), nothing triggered or run", async () => {
    const client = await connect('alice');
    client.send('async-refund', refund);

    expect(await client.next('exception')).toEqual({ status: 'error', code: 'approval_gate_error', message: 'The approval gate is misconfigured; nothing was run.' });
    await sleep(SETTLE_MS);
    expect(ledger.ran).toEqual([]);
    expect(broker.list()).toEqual([]);
    expect(started.logger.lines).toContainEqual(expect.stringContaining("Approval gate failed closed: RefundsGateway.asyncRefund() is gated with mode 'async'"));
  });

  it('disconnect while the approval is pending: the wait is let go, and approving afterwards runs nothing', async () => {
    const client = await connect('alice');
    client.send('refund', refund);
    const approval = await pendingApproval('payments.refund');
    // The gate really waits on the decision (its long-poll is held) before the client leaves.
    await broker.waitForHeldWaits(1, { timeoutMs: 10_000 });

    await client.close();
    await broker.waitForHeldWaits(0, { timeoutMs: 10_000 });
    expect(broker.get(approval.id)?.status).toBe('pending');
    await broker.approve(approval.id);
    await sleep(SETTLE_MS);
    expect(ledger.ran).toEqual([]);
    expect(broker.get(approval.id)?.status).toBe('approved');
    expect(started.logger.lines).not.toContainEqual(expect.stringContaining(`Approval used: action=payments.refund id=${approval.id}`));
  });

  it('a long-lived socket: each gated message lets go of its disconnect listener when it ends', async () => {
    const client = await connect('alice');
    client.send('ping', { n: 0 });
    await client.next('pong');
    const [connection] = started.app.get(RefundsGateway).connections;
    const gone = kind === 'ws' ? 'close' : 'disconnect';
    const before = connection.listenerCount(gone);

    const seen: string[] = [];
    for (let i = 1; i <= 12; i++) {
      client.send('refund', { amount: i, orderId: `ord_${i}` });
      const approval = await pendingApproval('payments.refund', seen);
      seen.push(approval.id);
      if (i % 2 === 0) await broker.approve(approval.id);
      else await broker.deny(approval.id);
      await client.next(i % 2 === 0 ? 'refunded' : 'exception');
    }
    expect(ledger.ran).toHaveLength(6);
    expect(connection.listenerCount(gone)).toBe(before);
  });

  it('dedupKey: one user sending the same data twice shares one approval; its denial answers both', async () => {
    const first = await connect('alice');
    const second = await connect('alice');
    first.send('shared-refund', refund);
    const approval = await pendingApproval('payments.shared-refund');
    second.send('shared-refund', refund);
    await broker.waitForHeldWaits(2, { timeoutMs: 10_000 });
    expect(broker.list()).toHaveLength(1);

    await broker.deny(approval.id);
    const refused = { status: 'error', code: 'approval_denied', message: `Approval ${approval.id} was denied`, approvalId: approval.id, approvalStatus: 'denied' };
    expect(await first.next('exception')).toEqual(refused);
    expect(await second.next('exception')).toEqual(refused);
    expect(ledger.ran).toEqual([]);
  });

  it('dedupKey: two users sending the same data get distinct approvals, each deciding only its own call', async () => {
    const alice = await connect('alice');
    const bob = await connect('bob');
    alice.send('shared-refund', refund);
    const alices = await pendingApproval('payments.shared-refund');
    bob.send('shared-refund', refund);
    const bobs = await pendingApproval('payments.shared-refund', [alices.id]);
    expect(bobs.dedup_key).not.toBe(alices.dedup_key);
    expect(broker.list()).toHaveLength(2);

    await broker.approve(alices.id);
    expect(await alice.next('refunded')).toEqual({ refunded: 42, orderId: 'ord_1' });
    expect(ledger.ran).toEqual(['shared:42:ord_1']);

    // Alice's approval did not run Bob's call: his still waits for his own, and is refused by it.
    expect(broker.get(bobs.id)?.status).toBe('pending');
    await broker.deny(bobs.id);
    expect(await bob.next('exception')).toEqual({
      status: 'error',
      code: 'approval_denied',
      message: `Approval ${bobs.id} was denied`,
      approvalId: bobs.id,
      approvalStatus: 'denied',
    });
    expect(bob.received.map((m) => m.event)).toEqual(['exception']);
    expect(ledger.ran).toEqual(['shared:42:ord_1']);
  });

  it('an ungated message on the same gateway and socket answers while a gated one waits, and after it is refused', async () => {
    const client = await connect('alice');
    client.send('refund', refund);
    const approval = await pendingApproval('payments.refund');

    client.send('ping', { n: 1 });
    expect(await client.next('pong')).toEqual({ n: 1 });
    expect(broker.get(approval.id)?.status).toBe('pending');

    await broker.deny(approval.id);
    expect(await client.next('exception')).toMatchObject({ code: 'approval_denied', approvalId: approval.id });
    client.send('ping', { n: 2 });
    expect(await client.next('pong')).toEqual({ n: 2 });
    expect(ledger.ran).toEqual([]);
    expect(broker.list()).toHaveLength(1);
  });

  it('an ungated handler calling a gated provider: runs once on approval, nothing on a refusal (answered as the approval with the filter on it)', async () => {
    const client = await connect('alice');
    client.send('purge-answered', { table: 'orders' });
    const approved = await pendingApproval('db.purge');
    expect(approved.summary).toBe('Purge orders');
    await broker.approve(approved.id);
    expect(await client.next('purged')).toEqual({ purged: 'orders' });
    expect(ledger.ran).toEqual(['purge:orders']);

    client.send('purge-answered', { table: 'orders' });
    const denied = await pendingApproval('db.purge', [approved.id]);
    await broker.deny(denied.id);
    expect(await client.next('exception')).toEqual({
      status: 'error',
      code: 'approval_denied',
      message: `Approval ${denied.id} was denied`,
      approvalId: denied.id,
      approvalStatus: 'denied',
    });

    // Without the filter the refusal still runs nothing (what the client is told: the it.failing below).
    client.send('purge', { table: 'orders' });
    const plain = await pendingApproval('db.purge', [approved.id, denied.id]);
    await broker.deny(plain.id);
    expect(await client.next('exception')).toMatchObject({ status: 'error' });
    await sleep(SETTLE_MS);
    expect(ledger.ran).toEqual(['purge:orders']);
  });

  // Open: SesameModule's APP_FILTER never reaches a gateway (@nestjs/websockets applies no global filters), so an ungated
  // handler's refusal from a gated provider is Nest's "Internal server error" instead of the outcome (nothing runs: the test
  // above). What a gateway can do is @UseFilters(ApprovalExceptionFilter), which the package does not export yet.
  it.failing('an ungated handler calling a gated provider, with no filter of its own: a refusal is answered as the approval outcome', async () => {
    const client = await connect('alice');
    client.send('purge', { table: 'orders' });
    const denied = await pendingApproval('db.purge');
    await broker.deny(denied.id);
    expect(await client.next('exception')).toEqual({
      status: 'error',
      code: 'approval_denied',
      message: `Approval ${denied.id} was denied`,
      approvalId: denied.id,
      approvalStatus: 'denied',
    });
  });
});

describe('@RequireApproval on a socket.io gateway: the ack', () => {
  let broker: LocalBroker;
  let started: StartedApp;
  let client: SocketClient;

  beforeEach(async () => {
    ({ broker, started } = await startSocketApp('socket.io', {
      apiKey: API_KEY,
      sesame: { policy: ActionPolicy },
      providers: [Ledger, ActionPolicy, SocketUserGuard, PurgeService, RefundsGateway],
    }));
    client = await connectSocket('socket.io', started.url, 'alice');
  });
  afterEach(async () => {
    await client.close();
    await started.app.close();
    await broker.stop();
    for (const line of started.logger.lines) expect(line).not.toContain(API_KEY);
  });

  it("the handler's plain return value reaches the client's ack, once approved", async () => {
    const answer = client.ack!('refund-ack', refund);
    const approval = await broker.waitForApproval((a) => a.status === 'pending' && a.action === 'payments.refund-ack');
    expect(started.app.get(Ledger).ran).toEqual([]);

    await broker.approve(approval.id);
    expect(await answer).toEqual({ refunded: 42 });
    expect(started.app.get(Ledger).ran).toEqual(['ack:42']);
  });
});
