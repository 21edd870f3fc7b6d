import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ApprovalAborted,
  ApprovalTimeout,
  NotFoundError,
  RequestRejectedError,
  SesameAuthError,
  SesameClient,
  verifyWebhook,
  type ApprovalDecisionPayload,
} from '../../lib/index.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { CLIENT_TRANSPORTS, transportOptions } from '../support/client-transports.js';

describe.each(CLIENT_TRANSPORTS)('SesameClient against the local broker (%s HTTP client)', (transport) => {
  let broker: LocalBroker;
  let client: SesameClient;

  beforeEach(async () => {
    broker = await LocalBroker.start({ webhookRetry: { attempts: 4, baseDelayMs: 20 } });
    client = new SesameClient({ apiKey: broker.apiKey, baseUrl: broker.url, env: {}, ...transportOptions(transport) });
  });
  afterEach(async () => {
    client.close();
    await broker.stop();
  });

  it('trigger -> approve -> wait resolves approved, with every field mapped', async () => {
    const approval = await client.approvals.trigger({
      action: 'db.delete',
      summary: 'Delete 1,204 rows from prod.orders',
      reason: 'GDPR erasure request #882',
      context: { table: 'orders', rows: 1204 },
      expiresIn: 60_000,
    });
    expect(approval).toMatchObject({
      action: 'db.delete',
      summary: 'Delete 1,204 rows from prod.orders',
      reason: 'GDPR erasure request #882',
      context: { table: 'orders', rows: 1204 },
      status: 'pending',
      approved: false,
      decidedAt: null,
      requesterLabel: 'local',
      callbackUrl: null,
    });
    expect(approval.expiresAt!.getTime() - approval.createdAt.getTime()).toBe(60_000);

    const waiting = approval.wait({ timeout: 10_000 });
    await broker.waitForHeldWaits(1);
    await broker.approve(approval.id);
    const decided = await waiting;
    expect(decided.approved).toBe(true);
    expect(decided.decidedAt).toBeInstanceOf(Date);
    expect(approval.status).toBe('pending'); // instances are immutable snapshots
    await expect(decided.wait()).resolves.toBe(decided); // already decided: no network
  });

  it('deny resolves with status denied', async () => {
    const approval = await client.approvals.trigger({ action: 'a', summary: 's' });
    const waiting = client.approvals.wait(approval.id, { timeout: 10_000 });
    await broker.deny(approval.id);
    await expect(waiting).resolves.toMatchObject({ status: 'denied', approved: false });
  });

  it('expiry resolves with status expired', async () => {
    const approval = await client.approvals.trigger({ action: 'a', summary: 's', expiresIn: 1_000 });
    const decided = await approval.wait({ timeout: 10_000 });
    expect(decided.status).toBe('expired');
  });

  it('wait past the caller timeout rejects with ApprovalTimeout; the approval stays pending', async () => {
    const approval = await client.approvals.trigger({ action: 'a', summary: 's' });
    await expect(approval.wait({ timeout: 1_200 })).rejects.toBeInstanceOf(ApprovalTimeout);
    expect((await client.approvals.get(approval.id)).status).toBe('pending');
    await broker.waitForHeldWaits(0);
  });

  it('abort stops the wait at once and releases the held long-poll', async () => {
    const approval = await client.approvals.trigger({ action: 'a', summary: 's' });
    const controller = new AbortController();
    const waiting = approval.wait({ timeout: 60_000, signal: controller.signal });
    await broker.waitForHeldWaits(1);
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(ApprovalAborted);
    await broker.waitForHeldWaits(0);
  });

  it('the same dedup key returns the same approval: no second page', async () => {
    const first = await client.approvals.trigger({ action: 'a', summary: 's', dedupKey: 'refund-881' });
    const second = await client.approvals.trigger({ action: 'a', summary: 's', dedupKey: 'refund-881' });
    expect(second.id).toBe(first.id);
    expect(broker.list()).toHaveLength(1);
  });

  it('maps 401, 404 and 422 from the broker', async () => {
    const wrongKey = new SesameClient({ apiKey: 'sk_test_wrong', baseUrl: broker.url, env: {}, ...transportOptions(transport) });
    await expect(wrongKey.approvals.get('apr_x')).rejects.toBeInstanceOf(SesameAuthError);
    wrongKey.close();
    await expect(client.approvals.get('apr_does_not_exist')).rejects.toBeInstanceOf(NotFoundError);
    // Bypass the client's own checks to see the broker's verdict.
    const res = await fetch(`${broker.url}/v1/approvals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${broker.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: '', summary: 'x' }),
    });
    expect(res.status).toBe(422);
    const { error } = (await res.json()) as { error: { code: string } };
    expect(error.code).toBe('validation_failed');
    await expect(client.approvals.wait('apr_does_not_exist', { timeout: 2_000 })).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.approvals.trigger({ action: 'a', summary: '' })).rejects.toBeInstanceOf(RequestRejectedError);
  });

  it('delivers a signed decision webhook that verifies, redelivering with the same id after a 500', async () => {
    const received: { status: number; id: string; payload?: ApprovalDecisionPayload }[] = [];
    let answers = [500];
    const receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const status = answers.shift() ?? 204;
        const payload = verifyWebhook(req.headers, Buffer.concat(chunks), broker.webhookSecrets as string[]);
        received.push({ status, id: String(req.headers['webhook-id']), payload });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    try {
      const port = (receiver.address() as AddressInfo).port;
      const approval = await client.approvals.trigger({
        action: 'payments.refund',
        summary: 'Refund',
        callbackUrl: `http://127.0.0.1:${port}/hook`,
        dedupKey: 'refund-42',
      });
      const delivered = new Promise((resolve) => broker.once('webhook.delivered', resolve));
      await broker.approve(approval.id);
      await delivered;
      expect(received.map((r) => r.status)).toEqual([500, 204]);
      expect(received[0].id).toBe(received[1].id);
      expect(received[1].payload).toMatchObject({
        approvalId: approval.id,
        action: 'payments.refund',
        status: 'approved',
        dedupKey: 'refund-42',
        requesterLabel: 'local',
        webhookId: received[0].id,
      });
    } finally {
      answers = [];
      receiver.closeAllConnections();
      await new Promise((r) => receiver.close(r));
    }
  });
});
