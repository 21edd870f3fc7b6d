import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { signWebhook, type WireWebhookPayload } from 'nestjs-sesame';
import { LocalBroker, type WebhookDeliveryRecord } from 'nestjs-sesame/testing';
import { AppModule, Ledger } from './app.module.js';
import { createHttpAdapter } from './http-adapter.js';
import { afterAll, beforeAll, describe, it } from './test-runner.js';

/** The broker's first delivery attempt for one approval, whatever its outcome. */
function firstDeliveryAttempt(broker: LocalBroker, approvalId: string, timeoutMs: number): Promise<WebhookDeliveryRecord> {
  return new Promise((resolve, reject) => {
    const onAttempt = (record: WebhookDeliveryRecord) => {
      if (record.approvalId !== approvalId) return;
      stop();
      resolve(record);
    };
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no webhook delivery attempt for ${approvalId} within ${timeoutMs} ms`));
    }, timeoutMs);
    const stop = () => {
      clearTimeout(timer);
      broker.off('webhook.delivered', onAttempt);
      broker.off('webhook.failed', onAttempt);
    };
    broker.on('webhook.delivered', onAttempt);
    broker.on('webhook.failed', onAttempt);
  });
}

/**
 * Rebuilds a value in the test's own realm. Jest runs tests in a vm context while fetch and
 * structuredClone (the broker's detached copies) live outside it, and strict deep equality compares
 * prototypes, so such objects never equal a literal even when every field does.
 */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

async function readJson<T = unknown>(response: Response): Promise<T> {
  return JSON.parse(await response.text()) as T;
}

describe('nestjs-sesame installed from its tarball', () => {
  let broker: LocalBroker;
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    broker = await LocalBroker.start({
      // Refunds are decided by customer; anything else waits for the test to decide.
      decide: (approval) => (approval.action !== 'payments.refund' ? undefined : approval.context?.customerId === 'cus_good' ? 'approve' : 'deny'),
      webhookRetry: { attempts: 1 },
    });
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forBroker({ apiKey: broker.apiKey, baseUrl: broker.url, webhookSecret: [...broker.webhookSecrets] })],
    }).compile();
    app = moduleRef.createNestApplication(createHttpAdapter(), { rawBody: true, logger: false });
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await app?.close();
    await broker?.stop();
  });

  const postJson = (path: string, body: unknown) =>
    fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('runs a gated route once the broker approves', async () => {
    const response = await postJson('/refunds', { amount: 42, customerId: 'cus_good' });
    assert.equal(response.status, 201);
    assert.deepEqual(await readJson(response), { refunded: 42 });
    assert.deepEqual(app.get(Ledger).refunds, [{ amount: 42, customerId: 'cus_good' }]);
    const approved = broker.list({ status: 'approved' }).filter((a) => a.action === 'payments.refund');
    assert.deepEqual(
      plain(approved.map((a) => [a.summary, a.context])),
      [['Refund 42 to cus_good', { customerId: 'cus_good', amount: 42 }]],
    );
  });

  it('answers 403 and skips the handler when the broker denies', async () => {
    const response = await postJson('/refunds', { amount: 7, customerId: 'cus_bad' });
    assert.equal(response.status, 403);
    const body = await readJson<{ code: string; status: string; approvalId: string }>(response);
    assert.equal(body.code, 'approval_denied');
    assert.equal(body.status, 'denied');
    assert.equal(body.approvalId, broker.list({ status: 'denied' }).find((a) => a.action === 'payments.refund')?.id);
    assert.equal(app.get(Ledger).refunds.length, 1);
  });

  it('accepts the decision webhook the broker signs and delivers', async () => {
    const created = await fetch(`${broker.url}/v1/approvals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${broker.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'payments.payout', summary: 'Payout 10', callback_url: `${url}/hooks/sesame` }),
    });
    assert.equal(created.status, 201);
    const { id } = await readJson<{ id: string }>(created);
    const attempt = firstDeliveryAttempt(broker, id, 10_000);
    await broker.approve(id);
    const record = await attempt;
    assert.equal(record.statusCode, 200, `delivery failed: ${record.error ?? ''}`);
    const decision = app.get(Ledger).decisions.find((d) => d.approvalId === id);
    assert.ok(decision, `the handler saw no decision for ${id}`);
    assert.equal(decision.status, 'approved');
    assert.ok(decision.decidedAt instanceof Date);
    assert.equal(decision.webhookId, record.webhookId);
  });

  it('rejects a tampered webhook with 400 and accepts the untouched one', async () => {
    const payload: WireWebhookPayload = {
      approval_id: 'apr_compat_1',
      action: 'payments.refund',
      status: 'denied',
      decided_at: new Date().toISOString(),
      requester_label: 'local',
      dedup_key: null,
    };
    const body = JSON.stringify(payload);
    const headers = signWebhook(body, broker.webhookSecrets);
    const send = (raw: string) => fetch(`${url}/hooks/sesame`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: raw });

    const tampered = await send(body.replace('"denied"', '"approved"'));
    assert.equal(tampered.status, 400);
    assert.equal((await readJson<{ code: string }>(tampered)).code, 'signature_mismatch');
    assert.equal(app.get(Ledger).decisions.some((d) => d.approvalId === 'apr_compat_1'), false);

    const untouched = await send(body);
    assert.equal(untouched.status, 200);
    assert.deepEqual(await readJson(untouched), { received: 'apr_compat_1' });
  });
});
