import { Controller, Headers, Injectable, Post, type Type } from '@nestjs/common';
import { trace } from '@opentelemetry/api';
import type { Histogram } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { Job } from 'bullmq';
import {
  generateWebhookSecret,
  RequireApproval,
  SesameModule,
  signWebhook,
  type ApprovalPolicy,
  type ApprovalPolicyCall,
  type ApprovalPolicyDecision,
} from '../../lib/index.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { ApprovalTelemetry } from '../../lib/telemetry/approval-telemetry.js';
import { startDeferredApp, waitForJobState, type DeferredApp } from '../support/deferred-apps.js';
import { freePort } from '../support/free-port.js';
import { startGatedApp, type GatedApp } from '../support/gated-app.js';
import { startContext } from '../support/nest-apps.js';
import { RedisServer } from '../support/redis-server.js';
import { OtelHarness } from './otel-harness.js';

const API_KEY = 'sk_test_SECRET_telemetry_93fa';
const SECRET = generateWebhookSecret();
const WEBHOOK_PATH = '/sesame/webhook';

/** What each gated handler saw as the current span: its own spans nest under the call's. */
@Injectable()
class ActiveSpans {
  readonly seen: string[] = [];
}

@Controller()
class PaymentsController {
  constructor(private readonly active: ActiveSpans) {}

  @Post('pay')
  @RequireApproval('payments.send', { summary: 'Pay 10 EUR', timeout: 5_000 })
  pay() {
    this.active.seen.push(trace.getActiveSpan()?.spanContext().spanId ?? 'none');
    return { paid: true };
  }

  @Post('slow')
  @RequireApproval('payments.slow', { timeout: 300 })
  slow() {
    return { paid: true };
  }

  @Post('async')
  @RequireApproval('payments.async', { mode: 'async' })
  later(@Headers('x-ignored') _ignored?: string) {
    return { paid: true };
  }

  @Post('fails')
  @RequireApproval('payments.fails')
  fails() {
    throw new Error('the bank is closed');
  }
}

/** Lets `policy.allow` run at once, refuses `policy.deny`, asks a human for the rest. */
@Injectable()
class TestPolicy implements ApprovalPolicy {
  evaluate(call: ApprovalPolicyCall): ApprovalPolicyDecision {
    if (call.action === 'policy.allow') return 'allow';
    if (call.action === 'policy.deny') return { deny: 'not on weekends' };
    return 'ask';
  }
}

@Controller('policy')
class PolicyController {
  @Post('allow')
  @RequireApproval('policy.allow')
  allow() {
    return { ran: true };
  }

  @Post('deny')
  @RequireApproval('policy.deny')
  deny() {
    return { ran: true };
  }
}

/** A gated provider method whose body never settles once it runs. */
@Injectable()
class StuckExport {
  started = false;

  @RequireApproval('exports.stuck')
  async run(): Promise<never> {
    this.started = true;
    return new Promise<never>(() => undefined);
  }
}

let otel: OtelHarness;
const apps: GatedApp[] = [];

beforeEach(() => {
  otel = OtelHarness.install();
});
afterEach(async () => {
  for (const { started, broker } of apps.splice(0)) {
    await started.app.close();
    await broker.stop();
  }
  await otel.uninstall();
});

async function start(options: { controllers?: Type[]; policy?: Type<ApprovalPolicy>; baseUrl?: string; webhooks?: boolean } = {}) {
  const gated = await startGatedApp('express', {
    apiKey: API_KEY,
    broker: { webhookSecret: SECRET },
    controllers: options.controllers ?? [PaymentsController],
    providers: [ActiveSpans],
    sesame: {
      webhookSecret: SECRET,
      ...(options.baseUrl && { baseUrl: options.baseUrl, retry: { retries: 0 } }),
      ...(options.policy && { policy: options.policy }),
      ...(options.webhooks && { webhookPath: WEBHOOK_PATH }),
    },
  });
  apps.push(gated);
  return { ...gated, url: gated.started.url };
}

const post = (url: string, headers: Record<string, string> = {}) => fetch(url, { method: 'POST', headers });

/** The one `sesame.approval` span of an action. */
function callSpan(action: string): ReadableSpan {
  const spans = otel.spans('sesame.approval').filter((span) => span.attributes['sesame.action'] === action);
  expect(spans).toHaveLength(1);
  return spans[0]!;
}

const childNames = (span: ReadableSpan) => otel.childrenOf(span).map((child) => child.name);

describe('spans of gated calls', () => {
  it('approved: one sesame.approval span with its trigger and wait as children, the method running inside it', async () => {
    const { broker, url, started } = await start();
    const answer = post(`${url}/pay`);
    const approval = await broker.waitForApproval((a) => a.action === 'payments.send');
    await broker.waitForHeldWaits(1);
    await broker.approve(approval.id);
    expect((await answer).status).toBe(201);

    const span = callSpan('payments.send');
    expect(span.attributes).toEqual({
      'sesame.action': 'payments.send',
      'sesame.mode': 'blocking',
      'code.function.name': 'PaymentsController.pay',
      'sesame.outcome': 'approved',
      'sesame.approval_id': approval.id,
    });
    expect(span.status.code).toBe(0); // UNSET: nothing failed
    expect(span.events).toEqual([]);
    expect(childNames(span).sort()).toEqual(['sesame.trigger', 'sesame.wait']);
    const [wait] = otel.spans('sesame.wait');
    expect(wait!.attributes).toMatchObject({ 'sesame.approval_id': approval.id, 'sesame.outcome': 'approved' });
    expect(otel.spans('sesame.trigger')[0]!.attributes).toEqual({ 'sesame.approval_id': approval.id });
    // The handler's own spans would nest under the approval span.
    expect(started.app.get(ActiveSpans).seen).toEqual([span.spanContext().spanId]);
    expect(otel.openSpans).toEqual([]);
  });

  it.each([
    ['denied', (broker: LocalBroker, id: string) => broker.deny(id), 403, 'approval_denied'],
    ['expired', (broker: LocalBroker, id: string) => broker.expire(id), 403, 'approval_expired'],
  ] as const)('%s: the outcome, the error recorded on the span, nothing ran', async (outcome, decide, status, code) => {
    const { broker, url, started } = await start();
    const answer = post(`${url}/pay`);
    const approval = await broker.waitForApproval((a) => a.action === 'payments.send');
    await broker.waitForHeldWaits(1);
    await decide(broker, approval.id);
    expect((await answer).status).toBe(status);

    const span = callSpan('payments.send');
    expect(span.attributes).toMatchObject({ 'sesame.outcome': outcome, 'sesame.approval_id': approval.id, 'error.type': code });
    expect(span.status).toEqual({ code: 2, message: code });
    expect(span.events.map((event) => [event.name, event.attributes?.['exception.type']])).toEqual([['exception', 'ApprovalDenied']]);
    expect(started.app.get(ActiveSpans).seen).toEqual([]);
  });

  it('timeout: the span ends when the gate stops waiting', async () => {
    const { url } = await start();
    expect((await post(`${url}/slow`)).status).toBe(504);
    const span = callSpan('payments.slow');
    expect(span.attributes).toMatchObject({ 'sesame.outcome': 'timeout', 'error.type': 'approval_timeout' });
    expect(span.attributes['sesame.approval_id']).toMatch(/\S/);
    expect(otel.spans('sesame.wait')[0]!.attributes['sesame.outcome']).toBe('timeout');
    expect(otel.openSpans).toEqual([]);
  });

  it('broker down: unavailable, with the failed trigger as a child', async () => {
    const { url } = await start({ baseUrl: `http://127.0.0.1:${await freePort()}` });
    expect((await post(`${url}/pay`)).status).toBe(503);
    const span = callSpan('payments.send');
    expect(span.attributes).toMatchObject({ 'sesame.outcome': 'unavailable', 'error.type': 'approval_broker_unavailable' });
    expect(span.attributes['sesame.approval_id']).toBeUndefined();
    expect(childNames(span)).toEqual(['sesame.trigger']);
    expect(otel.spans('sesame.trigger')[0]!.status.code).toBe(2);
  });

  it('a method that throws after approval: outcome approved, its error recorded', async () => {
    const { broker, url } = await start({});
    const answer = post(`${url}/fails`);
    const approval = await broker.waitForApproval((a) => a.action === 'payments.fails');
    await broker.waitForHeldWaits(1);
    await broker.approve(approval.id);
    expect((await answer).status).toBe(500);
    const span = callSpan('payments.fails');
    expect(span.attributes).toMatchObject({ 'sesame.outcome': 'approved', 'error.type': 'Error' });
    expect(span.events[0]!.attributes?.['exception.message']).toBe('the bank is closed');
  });

  it('policy allow and deny: outcomes policy_allowed (no trigger) and policy_denied', async () => {
    const { url, broker } = await start({ controllers: [PolicyController], policy: TestPolicy });
    expect((await post(`${url}/policy/allow`)).status).toBe(201);
    expect((await post(`${url}/policy/deny`)).status).toBe(403);
    const allowed = callSpan('policy.allow');
    expect(allowed.attributes['sesame.outcome']).toBe('policy_allowed');
    expect(allowed.status.code).toBe(0);
    expect(childNames(allowed)).toEqual([]);
    const denied = callSpan('policy.deny');
    expect(denied.attributes).toMatchObject({ 'sesame.outcome': 'policy_denied', 'error.type': 'approval_policy_denied' });
    expect(denied.status.code).toBe(2);
    expect(broker.list()).toEqual([]);
  });

  it('async: the first request ends its span as pending (not an error), the repeat as approved', async () => {
    const { broker, url } = await start();
    const first = await post(`${url}/async`);
    expect(first.status).toBe(202);
    const id = first.headers.get('sesame-approval-id')!;
    await broker.approve(id);
    expect((await post(`${url}/async`, { 'sesame-approval-id': id })).status).toBe(201);

    const [pending, approved] = otel.spans('sesame.approval');
    expect(pending!.attributes).toMatchObject({ 'sesame.mode': 'async', 'sesame.outcome': 'pending', 'sesame.approval_id': id });
    expect(pending!.status.code).toBe(0);
    expect(pending!.events).toEqual([]);
    expect(approved!.attributes).toMatchObject({ 'sesame.mode': 'async', 'sesame.outcome': 'approved', 'sesame.approval_id': id });
    expect(otel.spans('sesame.wait')).toEqual([]);
  });

  it('a shutdown during an hours-long wait ends the call span and its wait (outcome shutdown), and the pending count', async () => {
    const { broker, url, started } = await start();
    const answer = post(`${url}/pay`);
    await broker.waitForApproval((a) => a.action === 'payments.send');
    await broker.waitForHeldWaits(1);
    expect(otel.openSpans.map((span) => span.name).sort()).toEqual(['sesame.approval', 'sesame.wait']);
    expect(await otel.points('sesame.approval.pending')).toEqual([{ attributes: { 'sesame.action': 'payments.send' }, value: 1 }]);

    await started.app.close();
    expect((await answer).status).toBe(503);
    expect(otel.openSpans).toEqual([]);
    expect(callSpan('payments.send').attributes).toMatchObject({ 'sesame.outcome': 'shutdown', 'error.type': 'approval_aborted_shutdown' });
    expect(otel.spans('sesame.wait')[0]!.attributes['sesame.outcome']).toBe('shutdown');
    expect(await otel.points('sesame.approval.pending')).toEqual([{ attributes: { 'sesame.action': 'payments.send' }, value: 0 }]);
    // Closed here: afterEach only stops its broker.
    apps.splice(0);
    await broker.stop();
  });
});

it('a method still running at shutdown: its span is ended then (the approval ran)', async () => {
  const broker = await LocalBroker.start({ apiKeys: [API_KEY], decide: () => 'approve' });
  try {
    const app = await startContext({ imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl: broker.url, env: {} })], providers: [StuckExport] });
    const stuck = app.get(StuckExport);
    void stuck.run();
    await broker.waitForApproval((a) => a.action === 'exports.stuck' && a.status === 'approved');
    while (!stuck.started) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(otel.openSpans.map((span) => span.name)).toEqual(['sesame.approval']);

    await app.close();
    expect(otel.openSpans).toEqual([]);
    expect(callSpan('exports.stuck').attributes).toMatchObject({ 'sesame.outcome': 'approved', 'sesame.mode': 'blocking' });
  } finally {
    await broker.stop();
  }
});

describe('metrics', () => {
  it('pending goes up during a wait and down after it; the wait is timed; outcomes are counted by action, mode and outcome', async () => {
    const { broker, url } = await start();
    const answer = post(`${url}/pay`);
    const approval = await broker.waitForApproval((a) => a.action === 'payments.send');
    await broker.waitForHeldWaits(1);
    expect(await otel.points('sesame.approval.pending')).toEqual([{ attributes: { 'sesame.action': 'payments.send' }, value: 1 }]);
    expect(await otel.points('sesame.approval.outcomes')).toEqual([]);
    await broker.approve(approval.id);
    await answer;
    expect((await post(`${url}/slow`)).status).toBe(504);

    expect(await otel.points('sesame.approval.pending')).toEqual([
      { attributes: { 'sesame.action': 'payments.send' }, value: 0 },
      { attributes: { 'sesame.action': 'payments.slow' }, value: 0 },
    ]);
    const waits = await otel.points('sesame.approval.wait.duration');
    expect(waits.map((point) => [point.attributes, (point.value as Histogram).count])).toEqual([
      [{ 'sesame.action': 'payments.send', 'sesame.outcome': 'approved' }, 1],
      [{ 'sesame.action': 'payments.slow', 'sesame.outcome': 'timeout' }, 1],
    ]);
    const slow = waits[1]!.value as Histogram;
    // Seconds: the 300 ms timeout, give or take the scheduler.
    expect(slow.sum).toBeGreaterThanOrEqual(0.25);
    expect(slow.sum).toBeLessThan(5);
    expect(slow.buckets.boundaries).toContain(3_600);
    expect(await otel.points('sesame.approval.outcomes')).toEqual([
      { attributes: { 'sesame.action': 'payments.send', 'sesame.mode': 'blocking', 'sesame.outcome': 'approved' }, value: 1 },
      { attributes: { 'sesame.action': 'payments.slow', 'sesame.mode': 'blocking', 'sesame.outcome': 'timeout' }, value: 1 },
    ]);
  });

  it("counts the module endpoint's webhook verifications: ok, and failed by code", async () => {
    const { url } = await start({ webhooks: true });
    const body = JSON.stringify({ approval_id: 'apr_telemetry', action: 'payments.send', status: 'approved', decided_at: new Date().toISOString(), requester_label: null });
    const good = await fetch(`${url}${WEBHOOK_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json', ...signWebhook(body, SECRET) }, body });
    expect(good.status).toBe(204);
    const tampered = body.replace('approved', 'denied');
    const bad = await fetch(`${url}${WEBHOOK_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json', ...signWebhook(body, SECRET) }, body: tampered });
    expect(bad.status).toBe(400);
    expect(await otel.points('sesame.webhook.verifications')).toEqual([
      { attributes: { 'sesame.result': 'ok' }, value: 1 },
      { attributes: { 'sesame.result': 'failed', 'error.type': 'signature_mismatch' }, value: 1 },
    ]);
  });

  it('no exported span or metric holds the API key or the webhook secret', async () => {
    const { broker, url } = await start({ webhooks: true });
    const answer = post(`${url}/pay`);
    const approval = await broker.waitForApproval((a) => a.action === 'payments.send');
    await broker.approve(approval.id);
    await answer;
    await post(`${url}/slow`);
    await post(`${url}/async`);
    const body = '{"approval_id":"apr_x"}';
    await fetch(`${url}${WEBHOOK_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json', ...signWebhook(body, SECRET) }, body: `${body} ` });
    const text = await otel.exportedText();
    expect(text).toContain('payments.send');
    expect(text).toContain('signature_mismatch');
    for (const secret of [API_KEY, SECRET, SECRET.slice('whsec_'.length)]) expect(text).not.toContain(secret);
  });
});

describe('deferred jobs', () => {
  let redis: RedisServer;
  let broker: LocalBroker;
  let subject: DeferredApp;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  afterEach(async () => {
    await subject?.queue.obliterate({ force: true }).catch(() => undefined);
    await subject?.app.close();
    await broker?.stop();
  });

  it('the attempt that asks ends its span as pending; the approved run is a span of its own, not nested under it', async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY], webhookSecret: SECRET });
    subject = await startDeferredApp({
      redisPort: redis.port,
      sesame: { apiKey: API_KEY, baseUrl: broker.url, webhookSecret: SECRET, store: { type: 'redis', url: redis.url }, deferred: { recheckInterval: 60_000 } },
    });
    const job = await subject.queue.add('send', { amount: 120, iban: 'DE02' });
    const approval = await broker.waitForApproval((a) => a.action === 'payouts.send');
    const delayed = await waitForJobState(subject.queue, job.id!, 'delayed');
    await broker.approve(approval.id);
    const done = (await waitForJobState(subject.queue, job.id!, 'completed', 5_000)) as Job;
    expect(done.returnvalue).toBe('sent 120');

    const [asked, ran] = otel.spans('sesame.approval');
    expect(asked!.attributes).toMatchObject({ 'sesame.mode': 'deferred', 'sesame.outcome': 'pending', 'sesame.approval_id': approval.id });
    expect(asked!.status.code).toBe(0);
    expect(asked!.events).toEqual([]);
    expect(childNames(asked!)).toEqual(['sesame.trigger']);
    expect(ran!.attributes).toMatchObject({ 'sesame.mode': 'deferred', 'sesame.outcome': 'approved', 'sesame.approval_id': approval.id });
    expect(ran!.parentSpanContext).toBeUndefined();
    expect(ran!.spanContext().traceId).not.toBe(asked!.spanContext().traceId);
    // Linked through the job's progress (what a restarted worker reads back).
    const { traceId, spanId } = asked!.spanContext();
    expect((delayed.progress as { sesame: unknown }).sesame).toEqual({ approvalId: approval.id, action: 'payouts.send', status: 'pending', trace: { traceId, spanId } });
    expect(ran!.links.map((link) => [link.context.traceId, link.context.spanId])).toEqual([[traceId, spanId]]);
    expect(asked!.links).toEqual([]);
    expect(subject.app.get(ApprovalTelemetry).enabled).toBe(true);
  });
});
