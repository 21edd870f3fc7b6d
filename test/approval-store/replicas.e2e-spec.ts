import { randomUUID } from 'node:crypto';
import { Body, Controller, Injectable, Post, ValidationPipe } from '@nestjs/common';
import { IsInt, IsString, Min } from 'class-validator';
import {
  ApprovalStore,
  ApprovalsService,
  generateWebhookSecret,
  InMemoryApprovalStore,
  OnApprovalDecision,
  RedisApprovalStore,
  RequireApproval,
  SesameModule,
  signWebhook,
  type ApprovalDecisionPayload,
  type ApprovalStoreOption,
  type WireWebhookPayload,
} from '../../lib/index.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { startApp, type StartedApp } from '../support/nest-apps.js';
import { RedisServer, whenRedisReady } from '../support/redis-server.js';
import { nextDelivery } from '../support/broker-events.js';

const API_KEY = 'sk_test_SECRET_replicas_4e0a';
const SECRET = generateWebhookSecret();
const WEBHOOK_PATH = '/sesame/webhook';

class RefundDto {
  @IsInt() @Min(1) amount!: number;
  @IsString() customerId!: string;
}

/**
 * One object handed to both replicas (useValue): what ran anywhere. The invariants under test are
 * "an approval runs its request once" and "a webhook runs its handlers once", across replicas.
 */
class ClusterLedger {
  readonly ran: string[] = [];
  readonly decisions: { replica: string; decision: ApprovalDecisionPayload }[] = [];
  /** Webhook ids whose next handler call fails (a downstream outage). */
  readonly failNext = new Set<string>();
  attempts = 0;

  reset(): void {
    this.ran.length = 0;
    this.decisions.length = 0;
    this.failNext.clear();
    this.attempts = 0;
  }
}

/** Which replica an app is: injected, so handlers can say where they ran. */
class ReplicaName {
  constructor(readonly name: string) {}
}

@Controller()
class RefundsController {
  constructor(
    private readonly ledger: ClusterLedger,
    private readonly replica: ReplicaName,
  ) {}

  @Post('refunds')
  @RequireApproval('payments.refund', { mode: 'async', summary: (dto: RefundDto) => `Refund ${dto.amount} to ${dto.customerId}` })
  refund(@Body() dto: RefundDto) {
    this.ledger.ran.push(`${this.replica.name}:refund:${dto.amount}`);
    return { refunded: dto.amount, by: this.replica.name };
  }
}

@Injectable()
class DecisionHandlers {
  constructor(
    private readonly ledger: ClusterLedger,
    private readonly replica: ReplicaName,
  ) {}

  @OnApprovalDecision()
  async onDecision(decision: ApprovalDecisionPayload): Promise<void> {
    this.ledger.attempts++;
    if (this.ledger.failNext.delete(decision.webhookId)) throw new Error('ledger service unavailable');
    this.ledger.decisions.push({ replica: this.replica.name, decision });
  }
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function post(app: StartedApp, body: unknown, approvalId?: string): Promise<Answer> {
  const res = await fetch(`${app.url}/refunds`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(approvalId && { 'sesame-approval-id': approvalId }) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A decision webhook as the broker sends it: the same id on every (re)delivery, freshly signed each time. */
function decisionWebhook(overrides: Partial<WireWebhookPayload> = {}, webhookId = `msg_${randomUUID()}`) {
  const payload: WireWebhookPayload = {
    approval_id: `apr_${randomUUID()}`,
    action: 'payments.refund',
    status: 'approved',
    decided_at: new Date().toISOString(),
    requester_label: 'local',
    dedup_key: null,
    ...overrides,
  };
  return { webhookId, body: JSON.stringify(payload) };
}

async function deliver(app: StartedApp, webhook: { webhookId: string; body: string }): Promise<number> {
  const res = await fetch(`${app.url}${WEBHOOK_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...signWebhook(webhook.body, SECRET, { id: webhook.webhookId }) },
    body: webhook.body,
  });
  await res.arrayBuffer();
  return res.status;
}

const STORE_KINDS = ['redis', 'memory'] as const;

describe.each(STORE_KINDS)('two replicas sharing one %s store', (kind) => {
  let redis: RedisServer | undefined;
  let broker: LocalBroker;
  let a: StartedApp;
  let b: StartedApp;
  const ledger = new ClusterLedger();
  const refund = { amount: 42, customerId: 'cus_1' };

  /** A replica: its own Nest app, client and store connection; what it shares with the other is the store's backend. */
  const startReplica = (name: string, adapter: 'express' | 'fastify', store: ApprovalStoreOption) =>
    startApp(
      adapter,
      {
        imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl: broker.url, webhookSecret: SECRET, webhookPath: WEBHOOK_PATH, store, env: {} })],
        controllers: [RefundsController],
        providers: [DecisionHandlers, { provide: ClusterLedger, useValue: ledger }, { provide: ReplicaName, useValue: new ReplicaName(name) }],
      },
      (app) => app.useGlobalPipes(new ValidationPipe({ transform: true, whitelist: true })),
    );

  beforeAll(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY], webhookSecret: SECRET, webhookRetry: { attempts: 3, baseDelayMs: 10, timeoutMs: 5_000 } });
    let store: ApprovalStoreOption;
    if (kind === 'redis') {
      redis = await RedisServer.start();
      store = { type: 'redis', url: redis.url, keyPrefix: `replicas-${randomUUID()}:` };
    } else {
      store = new InMemoryApprovalStore(); // one instance, both apps: the in-process stand-in for a shared backend
    }
    // Two adapters on purpose: replicas agree through the store, whatever serves the HTTP.
    a = await startReplica('A', 'express', store);
    b = await startReplica('B', 'fastify', store);
  });
  afterAll(async () => {
    await a?.app.close();
    await b?.app.close();
    await broker?.stop();
    await redis?.stop();
    for (const line of [...(a?.logger.lines ?? []), ...(b?.logger.lines ?? [])]) {
      expect(line).not.toContain(API_KEY);
      expect(line).not.toContain(SECRET.slice('whsec_'.length));
    }
  });
  beforeEach(() => ledger.reset());

  async function approvedRefund(body: unknown = refund, via: StartedApp = a): Promise<string> {
    const first = await post(via, body);
    expect(first.status).toBe(202);
    const id = first.body.approvalId as string;
    await broker.approve(id);
    return id;
  }

  it('the same webhook delivered to both replicas runs its handlers once', async () => {
    const webhook = decisionWebhook();
    expect(await deliver(a, webhook)).toBe(204);
    expect(await deliver(b, webhook)).toBe(204);
    expect(await deliver(a, webhook)).toBe(204);
    expect(ledger.decisions.map((d) => d.replica)).toEqual(['A']);
    expect(b.logger.lines).toContainEqual(expect.stringContaining(`webhook ${webhook.webhookId}`));
  });

  it('delivered to both replicas at the same moment, the handlers still run once', async () => {
    const webhook = decisionWebhook();
    const statuses = await Promise.all([deliver(a, webhook), deliver(b, webhook)]);
    expect(statuses).toContain(204);
    // The loser either saw it processed (204) or in progress (409: the broker redelivers later).
    for (const status of statuses) expect([204, 409]).toContain(status);
    expect(await deliver(b, webhook)).toBe(204);
    expect(ledger.decisions).toHaveLength(1);
  });

  it("the broker's event, delivered to A and redelivered to B, runs the handlers once", async () => {
    const approval = await a.app.get(ApprovalsService).trigger({ action: 'payments.refund', summary: 'Refund 1', callbackUrl: `${a.url}${WEBHOOK_PATH}` });
    const delivered = nextDelivery(broker, approval.id);
    await broker.approve(approval.id);
    const record = await delivered;
    expect(record).toMatchObject({ statusCode: 204, attempt: 1 });
    expect(ledger.decisions.map((d) => [d.replica, d.decision.approvalId])).toEqual([['A', approval.id]]);

    // A redelivery (same webhook-id, signed afresh) that the load balancer sends to the other replica.
    expect(await deliver(b, { webhookId: record.webhookId, body: JSON.stringify(record.payload) })).toBe(204);
    expect(ledger.decisions).toHaveLength(1);
  });

  it('a failed handler releases the webhook id: the redelivery, on the other replica, runs it', async () => {
    const webhook = decisionWebhook();
    ledger.failNext.add(webhook.webhookId);
    expect(await deliver(a, webhook)).toBe(500);
    expect(ledger.decisions).toEqual([]);
    expect(await deliver(b, webhook)).toBe(204);
    expect(await deliver(a, webhook)).toBe(204);
    expect(ledger.attempts).toBe(2);
    expect(ledger.decisions.map((d) => d.replica)).toEqual(['B']);
  });

  it('an approval used through A is refused through B with 409', async () => {
    const id = await approvedRefund();
    const ran = await post(a, refund, id);
    expect(ran.status).toBe(201);
    expect(ran.body).toEqual({ refunded: 42, by: 'A' });
    const replayed = await post(b, refund, id);
    expect(replayed.status).toBe(409);
    expect(replayed.body).toMatchObject({ code: 'approval_already_used', approvalId: id });
    expect(ledger.ran).toEqual(['A:refund:42']);
  });

  it('50 concurrent repeats of one approved request, spread over both replicas, run the handler exactly once', async () => {
    const id = await approvedRefund({ amount: 50, customerId: 'cus_race' });
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => post(i % 2 ? b : a, { amount: 50, customerId: 'cus_race' }, id)));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(49);
    expect(ledger.ran).toHaveLength(1);
    expect(ledger.ran[0]).toMatch(/^[AB]:refund:50$/);
  });

  it('a repeat with other arguments is refused on the other replica, and the approval stays usable', async () => {
    const id = await approvedRefund({ amount: 7, customerId: 'cus_7' });
    const tampered = await post(b, { amount: 7000, customerId: 'cus_7' }, id);
    expect(tampered.status).toBe(403);
    expect(tampered.body).toMatchObject({ code: 'approval_mismatch', approvalId: id });
    expect(ledger.ran).toEqual([]);
    expect((await post(b, { amount: 7, customerId: 'cus_7' }, id)).status).toBe(201);
    expect(ledger.ran).toEqual(['B:refund:7']);
  });

  it('a retry without the header on the other replica finds the same approval', async () => {
    const before = broker.list().length;
    const first = await post(a, { amount: 9, customerId: 'cus_9' });
    const retried = await post(b, { amount: 9, customerId: 'cus_9' });
    expect(retried.status).toBe(202);
    expect(retried.body.approvalId).toBe(first.body.approvalId);
    expect(broker.list()).toHaveLength(before + 1);
  });

  if (kind === 'redis') {
    it('Redis stopped mid-test: 503 and nothing runs; restarted: works again without restarting the apps', async () => {
      const id = await approvedRefund({ amount: 11, customerId: 'cus_outage' });
      const webhook = decisionWebhook();

      await redis!.stop();
      for (const replica of [a, b]) {
        const res = await post(replica, { amount: 11, customerId: 'cus_outage' }, id);
        expect(res.status).toBe(503);
        expect(res.body).toMatchObject({ statusCode: 503, code: 'approval_store_unavailable' });
        expect(await deliver(replica, webhook)).toBe(503);
      }
      expect(ledger.ran).toEqual([]);
      expect(ledger.attempts).toBe(0);
      // Nest's Logger is process-wide, so both replicas' lines land in the logger of the app created last: one outage line per store.
      const outageLines = () => [...a.logger.lines, ...b.logger.lines].filter((l) => /^error Approval store \(Redis\) unreachable: .*Failing closed/.test(l));
      expect(outageLines()).toHaveLength(2);

      await redis!.start();
      await Promise.all([a, b].map((replica) => whenRedisReady((replica.app.get(ApprovalStore) as RedisApprovalStore).client)));
      expect((await post(b, { amount: 11, customerId: 'cus_outage' }, id)).status).toBe(201);
      expect((await post(a, { amount: 11, customerId: 'cus_outage' }, id)).status).toBe(409);
      expect(await deliver(a, webhook)).toBe(204);
      expect(await deliver(b, webhook)).toBe(204);
      expect(ledger.ran).toEqual(['B:refund:11']);
      expect(ledger.decisions.map((d) => d.replica)).toEqual(['A']);
      expect([...a.logger.lines, ...b.logger.lines].filter((l) => l.includes('Approval store (Redis) reachable again'))).toHaveLength(2);
      expect(outageLines()).toHaveLength(2);
    });
  }
});
