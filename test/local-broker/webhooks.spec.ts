import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateWebhookSecret } from '../../lib/webhooks/sign-webhook.js';
import { LocalBroker, type LocalBrokerEvents, type WebhookDeliveryRecord, type WireApproval } from '../../lib/testing/index.js';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver over real HTTP: answers each request with the next scripted status (the last repeats). */
class Receiver {
  readonly received: Received[] = [];
  private readonly server: http.Server;
  private statuses: (number | 'hang')[] = [200];
  private arrivals: (() => void)[] = [];

  constructor() {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        this.received.push({ headers: req.headers, body });
        for (const notify of this.arrivals.splice(0)) notify();
        const step = this.statuses.length > 1 ? this.statuses.shift()! : this.statuses[0];
        if (step !== 'hang') res.writeHead(step, { 'content-type': 'text/plain' }).end('ok');
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/sesame`;
  }

  script(...statuses: (number | 'hang')[]): void {
    this.statuses = statuses;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

function once<K extends keyof LocalBrokerEvents>(
  broker: LocalBroker,
  event: K,
  filter: (...args: LocalBrokerEvents[K]) => boolean = () => true,
): Promise<LocalBrokerEvents[K]> {
  return new Promise((resolve) => {
    const listener = (...args: LocalBrokerEvents[K]) => {
      if (!filter(...args)) return;
      (broker.off as (e: K, l: typeof listener) => void)(event, listener);
      resolve(args);
    };
    (broker.on as (e: K, l: typeof listener) => void)(event, listener);
  });
}

/** Recomputes Standard Webhooks v1 signatures with node:crypto (independent of the library's verifier). */
function expectedSignature(secret: string, received: Received): string {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const signed = `${received.headers['webhook-id']}.${received.headers['webhook-timestamp']}.${received.body}`;
  return `v1,${createHmac('sha256', key).update(signed).digest('base64')}`;
}

async function create(broker: LocalBroker, body: Record<string, unknown>): Promise<WireApproval> {
  const res = await fetch(`${broker.url}/v1/approvals`, {
    method: 'POST',
    headers: { authorization: `Bearer ${broker.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ action: 'payments.refund', summary: 'Refund 42 EUR', ...body }),
  });
  return (await res.json()) as WireApproval;
}

describe('LocalBroker decision webhooks', () => {
  let receiver: Receiver;
  let broker: LocalBroker | undefined;
  beforeEach(async () => {
    receiver = await new Receiver().start();
  });
  afterEach(async () => {
    await broker?.stop();
    await receiver.stop();
  });

  it('POSTs a signed JSON payload with dedup_key on approval, without blocking the decision', async () => {
    const secret = generateWebhookSecret();
    broker = await LocalBroker.start({ webhookSecret: secret });
    expect(broker.webhookSecrets).toEqual([secret]);
    receiver.script('hang');
    const a = await create(broker, { callback_url: receiver.url, dedup_key: 'order-7' });
    const arrived = once(broker, 'approval.decided');
    const started = Date.now();
    const approved = await broker.approve(a.id);
    expect(Date.now() - started).toBeLessThan(50);
    expect(receiver.received).toHaveLength(0); // delivery is asynchronous
    await arrived;
    await new Promise<void>((resolve) => {
      const check = () => (receiver.received.length > 0 ? resolve() : setTimeout(check, 5));
      check();
    });
    const [hook] = receiver.received;
    expect(hook.headers['content-type']).toBe('application/json');
    expect(hook.headers['user-agent']).toMatch(/^nestjs-sesame-local-broker\//);
    expect(JSON.parse(hook.body)).toEqual({
      approval_id: a.id,
      action: 'payments.refund',
      status: 'approved',
      decided_at: approved.decided_at,
      requester_label: 'local',
      dedup_key: 'order-7',
    });
    expect(hook.headers['webhook-id']).toMatch(/^msg_/);
    expect(Math.abs(Number(hook.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(5);
    expect(hook.headers['webhook-signature']).toBe(expectedSignature(secret, hook));
  });

  it('records a delivery, emits webhook.delivered, and sends one webhook for a deduplicated approval', async () => {
    broker = await LocalBroker.start();
    const a = await create(broker, { callback_url: receiver.url, dedup_key: 'k' });
    const again = await create(broker, { callback_url: receiver.url, dedup_key: 'k' });
    expect(again.id).toBe(a.id);
    const delivered = once(broker, 'webhook.delivered');
    await broker.deny(a.id);
    const [record] = await delivered;
    expect(record).toMatchObject({ approvalId: a.id, url: receiver.url, attempt: 1, statusCode: 200, ok: true, error: null, willRetry: false });
    expect(record.payload).toMatchObject({ status: 'denied', dedup_key: 'k' });
    expect(receiver.received).toHaveLength(1);
    expect(JSON.parse(receiver.received[0].body).status).toBe('denied');
    expect(receiver.received[0].headers['webhook-signature']).toBe(expectedSignature(broker.webhookSecrets[0], receiver.received[0]));
    expect(broker.deliveries).toEqual([record]);
  });

  it('redelivers after a 500 with the same webhook-id and fresh valid signatures, then succeeds', async () => {
    broker = await LocalBroker.start({ webhookRetry: { baseDelayMs: 20 } });
    receiver.script(500, 500, 204);
    const failures: WebhookDeliveryRecord[] = [];
    broker.on('webhook.failed', (r) => failures.push(r));
    const a = await create(broker, { callback_url: receiver.url });
    const delivered = once(broker, 'webhook.delivered');
    await broker.approve(a.id);
    const [record] = await delivered;
    expect(record).toMatchObject({ attempt: 3, statusCode: 204, ok: true });
    expect(receiver.received).toHaveLength(3);
    const ids = new Set(receiver.received.map((r) => r.headers['webhook-id']));
    expect(ids.size).toBe(1);
    expect(record.webhookId).toBe([...ids][0]);
    for (const r of receiver.received) {
      expect(r.headers['webhook-signature']).toBe(expectedSignature(broker.webhookSecrets[0], r));
      expect(r.body).toBe(receiver.received[0].body);
    }
    expect(failures.map((f) => [f.attempt, f.statusCode, f.willRetry])).toEqual([
      [1, 500, true],
      [2, 500, true],
    ]);
    expect(broker.deliveries.map((d) => d.attempt)).toEqual([1, 2, 3]);
  });

  it('re-signs each attempt with a fresh webhook-timestamp', async () => {
    broker = await LocalBroker.start({ webhookRetry: { baseDelayMs: 1000 } });
    receiver.script(500, 200);
    const a = await create(broker, { callback_url: receiver.url });
    const delivered = once(broker, 'webhook.delivered');
    await broker.approve(a.id);
    await delivered;
    const [first, second] = receiver.received.map((r) => Number(r.headers['webhook-timestamp']));
    expect(second).toBeGreaterThan(first);
    expect(receiver.received[1].headers['webhook-signature']).not.toBe(receiver.received[0].headers['webhook-signature']);
  });

  it('gives up after the configured attempts; network errors and timeouts count as failures', async () => {
    broker = await LocalBroker.start({ webhookRetry: { attempts: 3, baseDelayMs: 5, timeoutMs: 200 } });
    receiver.script(503);
    const a = await create(broker, { callback_url: receiver.url });
    const gaveUp = once(broker, 'webhook.failed', (r) => !r.willRetry);
    await broker.approve(a.id);
    const [last] = await gaveUp;
    expect(last).toMatchObject({ attempt: 3, statusCode: 503, ok: false });
    expect(receiver.received).toHaveLength(3);

    const closedPort = await new Receiver().start();
    const deadUrl = closedPort.url;
    await closedPort.stop();
    const b = await create(broker, { callback_url: deadUrl });
    const refused = once(broker, 'webhook.failed', (r) => r.approvalId === b.id && !r.willRetry);
    await broker.deny(b.id);
    const [netError] = await refused;
    expect(netError).toMatchObject({ statusCode: null, attempt: 3, error: expect.stringContaining('ECONNREFUSED') });

    receiver.script('hang');
    const c = await create(broker, { callback_url: receiver.url });
    const timedOut = once(broker, 'webhook.failed', (r) => r.approvalId === c.id);
    await broker.approve(c.id);
    const [timeout] = await timedOut;
    expect(timeout).toMatchObject({ statusCode: null, error: expect.stringContaining('no answer within 200 ms') });
  });

  it('signs with every configured secret (rotation): one v1 entry per secret', async () => {
    const secrets = [generateWebhookSecret(), generateWebhookSecret()];
    broker = await LocalBroker.start({ webhookSecret: secrets });
    const a = await create(broker, { callback_url: receiver.url });
    const delivered = once(broker, 'webhook.delivered');
    await broker.approve(a.id);
    await delivered;
    const [hook] = receiver.received;
    const entries = String(hook.headers['webhook-signature']).split(' ');
    expect(entries).toEqual(secrets.map((s) => expectedSignature(s, hook)));
  });

  it('sends the expired webhook on expiry, and nothing for approvals without callback_url', async () => {
    broker = await LocalBroker.start();
    const silent = await create(broker, {});
    await broker.approve(silent.id);
    const a = await create(broker, { callback_url: receiver.url, expires_in: 1 });
    const [record] = await once(broker, 'webhook.delivered');
    expect(record.payload).toEqual({
      approval_id: a.id,
      action: 'payments.refund',
      status: 'expired',
      decided_at: a.expires_at,
      requester_label: 'local',
      dedup_key: null,
    });
    expect(receiver.received).toHaveLength(1);
  });

  it('stop() cancels scheduled redeliveries and aborts deliveries in flight', async () => {
    broker = await LocalBroker.start({ webhookRetry: { baseDelayMs: 60_000 } });
    receiver.script(500);
    const a = await create(broker, { callback_url: receiver.url });
    const failed = once(broker, 'webhook.failed');
    await broker.approve(a.id);
    expect((await failed)[0].willRetry).toBe(true);
    receiver.script('hang');
    const b = await create(broker, { callback_url: receiver.url });
    await broker.approve(b.id);
    await new Promise<void>((resolve) => {
      const check = () => (receiver.received.length === 2 ? resolve() : setTimeout(check, 5));
      check();
    });
    const started = Date.now();
    await broker.stop();
    expect(Date.now() - started).toBeLessThan(500);
    expect(broker.deliveries).toHaveLength(1);
  });
});
