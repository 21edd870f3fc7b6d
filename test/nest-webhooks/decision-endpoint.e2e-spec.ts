import { Controller, Injectable, Scope, type INestApplication } from '@nestjs/common';
import { ApprovalsService, generateWebhookSecret, SesameConfigError, SesameModule, signWebhook, type ApprovalDecisionPayload } from '../../lib/index.js';
import { ApprovalDecisionDispatcher } from '../../lib/nest-webhooks/approval-decision.dispatcher.js';
import { OnApprovalDecision, ON_APPROVAL_DECISION_METADATA } from '../../lib/nest-webhooks/on-approval-decision.decorator.js';
import { createSesameWebhookController } from '../../lib/nest-webhooks/sesame-webhook.controller.js';
import { LocalBroker, type WebhookDeliveryRecord } from '../../lib/testing/index.js';
import { ADAPTERS, createApp, startApp, type CapturingLogger } from '../support/nest-apps.js';
import { nextDelivery } from '../support/broker-events.js';

const SECRET = generateWebhookSecret();
const API_KEY = 'sk_test_SECRET_webhooks_7c41';
const WEBHOOK_PATH = '/sesame/webhook';

interface HandlerCall {
  handler: string;
  decision: ApprovalDecisionPayload;
}

/** Every handler call, in order; waitFor() resolves on a matching call, past or future (no polling, no sleeps). */
@Injectable()
class CallLog {
  readonly calls: HandlerCall[] = [];
  private readonly waiters = new Set<{ match: (call: HandlerCall) => boolean; resolve: (call: HandlerCall) => void }>();

  record(handler: string, decision: ApprovalDecisionPayload): void {
    const call = { handler, decision };
    this.calls.push(call);
    for (const waiter of [...this.waiters]) {
      if (waiter.match(call)) {
        this.waiters.delete(waiter);
        waiter.resolve(call);
      }
    }
  }

  waitFor(match: (call: HandlerCall) => boolean): Promise<HandlerCall> {
    const existing = this.calls.find(match);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve) => this.waiters.add({ match, resolve }));
  }

  handlersFor(approvalId: string): string[] {
    return this.calls.filter((c) => c.decision.approvalId === approvalId).map((c) => c.handler);
  }
}

@Injectable()
class RefundHandlers {
  constructor(private readonly log: CallLog) {}

  @OnApprovalDecision('payments.refund')
  onRefund(decision: ApprovalDecisionPayload): void {
    this.log.record('RefundHandlers.onRefund', decision);
  }
}

@Injectable()
class AuditHandlers {
  constructor(private readonly log: CallLog) {}

  @OnApprovalDecision()
  async onAny(decision: ApprovalDecisionPayload): Promise<void> {
    await Promise.resolve();
    this.log.record('AuditHandlers.onAny', decision);
  }
}

@Injectable()
class BulkDeleteHandlers {
  constructor(private readonly log: CallLog) {}

  @OnApprovalDecision(['db.bulk-delete', 'db.truncate'])
  onDelete(decision: ApprovalDecisionPayload): void {
    this.log.record('BulkDeleteHandlers.onDelete', decision);
  }
}

/** Fails the first delivery, as a handler would whose downstream is briefly down. */
@Injectable()
class FlakyHandlers {
  private failuresLeft = 1;
  constructor(private readonly log: CallLog) {}

  @OnApprovalDecision('reports.flaky')
  async onFlaky(decision: ApprovalDecisionPayload): Promise<void> {
    this.log.record('FlakyHandlers.onFlaky', decision);
    if (this.failuresLeft-- > 0) throw new Error('reporting service unavailable');
  }
}

/** Controllers are scanned too. */
@Controller('refund-ui')
class RefundUiController {
  constructor(private readonly log: CallLog) {}

  @OnApprovalDecision('payments.refund')
  notify(decision: ApprovalDecisionPayload): void {
    this.log.record('RefundUiController.notify', decision);
  }
}

/** Created per request: its handler cannot be registered, and must be reported loudly. */
@Injectable({ scope: Scope.REQUEST })
class PerRequestHandlers {
  @OnApprovalDecision('payments.refund')
  onRefund(): void {
    throw new Error('must never run');
  }
}

const HANDLER_PROVIDERS = [RefundHandlers, AuditHandlers, BulkDeleteHandlers, FlakyHandlers, PerRequestHandlers];

describe.each(ADAPTERS)('built-in decision endpoint on %s', (adapter) => {
  let broker: LocalBroker;
  let app: INestApplication;
  let logger: CapturingLogger;
  let url: string;

  beforeEach(async () => {
    broker = await LocalBroker.start({
      apiKeys: [API_KEY],
      webhookSecret: SECRET,
      webhookRetry: { attempts: 3, baseDelayMs: 10, timeoutMs: 5000 },
    });
    ({ app, logger, url } = await startApp(adapter, {
      imports: [SesameModule.forRoot({ apiKey: broker.apiKey, baseUrl: broker.url, webhookSecret: SECRET, env: {}, webhookPath: WEBHOOK_PATH })],
      controllers: [RefundUiController],
      providers: [CallLog, ...HANDLER_PROVIDERS],
    }));
  });

  afterEach(async () => {
    await app.close();
    await broker.stop();
    for (const line of logger.lines) {
      expect(line).not.toContain(SECRET);
      expect(line).not.toContain(SECRET.slice('whsec_'.length));
      expect(line).not.toContain(API_KEY);
    }
  });

  async function triggerAndDecide(action: string, decide: 'approve' | 'deny'): Promise<{ id: string; delivery: WebhookDeliveryRecord }> {
    const approval = await app.get(ApprovalsService).trigger({ action, summary: `Test ${action}`, callbackUrl: `${url}${WEBHOOK_PATH}` });
    const delivered = nextDelivery(broker, approval.id);
    await (decide === 'approve' ? broker.approve(approval.id) : broker.deny(approval.id));
    return { id: approval.id, delivery: await delivered };
  }

  it('finds the singleton handlers at init and warns about the request-scoped one', () => {
    expect(app.get(ApprovalDecisionDispatcher).handlerCount).toBe(5);
    expect(logger.lines).toContainEqual(expect.stringMatching(/^warn PerRequestHandlers\.onRefund\(\).*request-scoped/));
  });

  it('delivers a broker-signed decision to the handlers for its action, end to end', async () => {
    const { id, delivery } = await triggerAndDecide('payments.refund', 'approve');

    expect(delivery).toMatchObject({ statusCode: 204, ok: true, attempt: 1 });
    // dispatch() finished before the endpoint answered, so every handler has run by now.
    expect(app.get(CallLog).handlersFor(id).sort()).toEqual(['AuditHandlers.onAny', 'RefundHandlers.onRefund', 'RefundUiController.notify']);
    const { decision } = await app.get(CallLog).waitFor((c) => c.handler === 'RefundHandlers.onRefund' && c.decision.approvalId === id);
    expect(decision).toEqual({
      approvalId: id,
      action: 'payments.refund',
      status: 'approved',
      decidedAt: expect.any(Date),
      requesterLabel: 'local',
      dedupKey: expect.any(String),
      webhookId: delivery.webhookId,
    });
    expect(decision.decidedAt.toISOString()).toBe(delivery.payload.decided_at);
  });

  it('respects the action filter: a denial of another action reaches only its handlers', async () => {
    const { id, delivery } = await triggerAndDecide('db.bulk-delete', 'deny');

    expect(delivery.statusCode).toBe(204);
    expect(app.get(CallLog).handlersFor(id).sort()).toEqual(['AuditHandlers.onAny', 'BulkDeleteHandlers.onDelete']);
    const { decision } = await app.get(CallLog).waitFor((c) => c.handler === 'BulkDeleteHandlers.onDelete' && c.decision.approvalId === id);
    expect(decision.status).toBe('denied');
  });

  it('answers 500 when a handler throws, so the broker redelivers the same event until it succeeds', async () => {
    const { id, delivery } = await triggerAndDecide('reports.flaky', 'approve');

    const attempts = broker.deliveries.filter((d) => d.approvalId === id);
    expect(attempts.map((d) => ({ attempt: d.attempt, statusCode: d.statusCode, webhookId: d.webhookId }))).toEqual([
      { attempt: 1, statusCode: 500, webhookId: delivery.webhookId },
      { attempt: 2, statusCode: 204, webhookId: delivery.webhookId },
    ]);
    const flakyCalls = app.get(CallLog).calls.filter((c) => c.handler === 'FlakyHandlers.onFlaky');
    expect(flakyCalls.map((c) => c.decision.webhookId)).toEqual([delivery.webhookId, delivery.webhookId]);
    const failure = logger.lines.find((line) => line.startsWith('error') && line.includes('FlakyHandlers.onFlaky() failed'));
    expect(failure).toContain('reporting service unavailable');
    expect(failure).toContain(id);
  });

  it('refuses an unsigned or forged webhook with 400 and runs no handler', async () => {
    const body = JSON.stringify({ approval_id: 'apr_forged', action: 'payments.refund', status: 'approved', decided_at: new Date().toISOString(), requester_label: null });
    const unsigned = await fetch(`${url}${WEBHOOK_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(unsigned.status).toBe(400);
    expect(await unsigned.json()).toMatchObject({ statusCode: 400, code: 'missing_header' });

    const forged = await fetch(`${url}${WEBHOOK_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signWebhook(body, generateWebhookSecret()) },
      body,
    });
    expect(forged.status).toBe(400);
    expect(await forged.json()).toMatchObject({ statusCode: 400, code: 'signature_mismatch' });
    expect(app.get(CallLog).calls).toEqual([]);
  });

  it('dispatch() returns the number of handlers run, and rejects with an AggregateError naming the failed ones', async () => {
    const dispatcher = app.get(ApprovalDecisionDispatcher);
    const decision: ApprovalDecisionPayload = {
      approvalId: 'apr_direct',
      action: 'reports.flaky',
      status: 'expired',
      decidedAt: new Date(),
      requesterLabel: null,
      dedupKey: null,
      webhookId: 'msg_direct',
    };
    const failed = dispatcher.dispatch(decision);
    await expect(failed).rejects.toBeInstanceOf(AggregateError);
    await expect(failed).rejects.toThrow(/1 of 2 .*FlakyHandlers\.onFlaky\(\)/);
    await expect(dispatcher.dispatch(decision)).resolves.toBe(2);
    await expect(dispatcher.dispatch({ ...decision, action: 'nobody.listens' })).resolves.toBe(1);
  });
});

describe.each(ADAPTERS)('SesameModule webhook configuration on %s', (adapter) => {
  let app: INestApplication | undefined;

  afterEach(async () => {
    await app?.close().catch(() => undefined);
    app = undefined;
  });

  async function boot(options: Parameters<typeof SesameModule.forRoot>[0], providers = [CallLog, RefundHandlers, AuditHandlers]): Promise<void> {
    ({ app } = await createApp(adapter, { imports: [SesameModule.forRoot(options)], providers }, { logger: false }));
    await app.init();
  }

  it('fails fast at boot when handlers exist but no webhook secret is configured, naming the handlers', async () => {
    const booting = boot({ apiKey: API_KEY, baseUrl: 'http://127.0.0.1:9', env: {}, webhookPath: WEBHOOK_PATH });
    await expect(booting).rejects.toBeInstanceOf(SesameConfigError);
    await expect(booting).rejects.toThrow(/RefundHandlers\.onRefund\(\).*AuditHandlers\.onAny\(\)|AuditHandlers\.onAny\(\).*RefundHandlers\.onRefund\(\)/);
    await expect(booting).rejects.toThrow('set webhookSecret or SESAME_WEBHOOK_SECRET');
  });

  it('fails fast at boot when webhookPath is set but no webhook secret is configured', async () => {
    const booting = boot({ apiKey: API_KEY, baseUrl: 'http://127.0.0.1:9', env: {}, webhookPath: WEBHOOK_PATH }, []);
    await expect(booting).rejects.toBeInstanceOf(SesameConfigError);
    await expect(booting).rejects.toThrow(`webhookPath "${WEBHOOK_PATH}" is set but no webhook secret is configured`);
  });

  it('boots without a secret when no handler needs one', async () => {
    await boot({ apiKey: API_KEY, baseUrl: 'http://127.0.0.1:9', env: {} }, []);
    expect(app!.get(ApprovalDecisionDispatcher).handlerCount).toBe(0);
  });

  it('refuses a webhookSecret that is not whsec_, naming the option and not its value', async () => {
    const bad = 'supersecret-VALUE-not-whsec-9f3a';
    let error: unknown;
    try {
      await boot({ apiKey: API_KEY, baseUrl: 'http://127.0.0.1:9', env: {}, webhookSecret: bad });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SesameConfigError);
    const { message, stack } = error as Error;
    expect(message).toContain('webhookSecret');
    expect(message).not.toContain(bad);
    expect(stack).not.toContain(bad);
  });
});

describe('webhook decorators and endpoint factory', () => {
  it('refuses an empty webhookPath', () => {
    expect(() => createSesameWebhookController('')).toThrow(SesameConfigError);
    expect(() => createSesameWebhookController('  ')).toThrow('webhookPath must be a non-empty string');
    expect(() => SesameModule.forRoot({ webhookPath: '' })).toThrow(SesameConfigError);
  });

  it('creates a new controller class per call', () => {
    expect(createSesameWebhookController(WEBHOOK_PATH)).not.toBe(createSesameWebhookController(WEBHOOK_PATH));
  });

  it('@OnApprovalDecision writes metadata only, and stacked decorators add up', () => {
    class Handlers {
      @OnApprovalDecision('a.one')
      @OnApprovalDecision(['a.two', 'a.one'])
      some(): void {}

      @OnApprovalDecision('a.one')
      @OnApprovalDecision()
      all(): void {}
    }
    expect(Reflect.getMetadata(ON_APPROVAL_DECISION_METADATA, Handlers.prototype.some)).toEqual({ actions: ['a.two', 'a.one'] });
    expect(Reflect.getMetadata(ON_APPROVAL_DECISION_METADATA, Handlers.prototype.all)).toEqual({ actions: null });
  });

  it('@OnApprovalDecision refuses an empty action', () => {
    expect(() => OnApprovalDecision('')).toThrow(SesameConfigError);
    expect(() => OnApprovalDecision([])).toThrow(SesameConfigError);
  });
});
