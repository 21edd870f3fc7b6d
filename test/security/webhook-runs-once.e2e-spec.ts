import { Injectable } from '@nestjs/common';
import { generateWebhookSecret, SesameModule, signWebhook, type ApprovalDecisionPayload } from '../../lib/index.js';
import { OnApprovalDecision } from '../../lib/nest-webhooks/on-approval-decision.decorator.js';
import { startApp, type StartedApp } from '../support/nest-apps.js';

/**
 * Item 5 of the trust issue: a decision handler slower than the webhook claim's lease ran a second
 * time, concurrently, when the broker redelivered the webhook.
 */
const SECRET = generateWebhookSecret();
const PATH = '/sesame/webhook';
const LEASE_MS = 1_000;

@Injectable()
class SlowHandler {
  running = 0;
  maxRunning = 0;
  runs = 0;
  release!: () => void;
  private readonly gate = new Promise<void>((resolve) => (this.release = resolve));

  @OnApprovalDecision('payments.payout')
  async onDecision(_decision: ApprovalDecisionPayload): Promise<void> {
    this.runs++;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    await this.gate;
    this.running--;
  }
}

describe('a decision handler slower than the claim lease', () => {
  let started: StartedApp;

  beforeEach(async () => {
    started = await startApp('express', {
      imports: [
        SesameModule.forRoot({
          apiKey: 'sk_test_SECRET_webhook_once_90aa',
          baseUrl: 'http://127.0.0.1:9',
          webhookSecret: SECRET,
          webhookClaimLease: LEASE_MS,
          webhookPath: PATH,
          env: {},
        }),
      ],
      providers: [SlowHandler],
    });
  });
  afterEach(async () => {
    started.app.get(SlowHandler).release();
    await started.app.close();
  });

  it('never runs twice at once for one webhook-id: redeliveries during the run are refused, and after it answer done', async () => {
    const body = JSON.stringify({
      approval_id: 'apr_slow',
      action: 'payments.payout',
      status: 'approved',
      decided_at: new Date().toISOString(),
      requester_label: 'local',
      dedup_key: null,
    });
    const headers = { 'content-type': 'application/json', ...signWebhook(body, SECRET, { id: 'msg_slow_1' }) };
    const deliver = () => fetch(`${started.url}${PATH}`, { method: 'POST', headers, body });
    const handler = started.app.get(SlowHandler);

    const first = deliver();
    // Redeliveries well after the lease would have lapsed without renewal.
    const during: number[] = [];
    for (const wait of [LEASE_MS * 1.5, LEASE_MS * 1.5]) {
      await new Promise((resolve) => setTimeout(resolve, wait));
      during.push((await deliver()).status);
    }
    expect(handler.runs).toBe(1);
    expect(during).toEqual([409, 409]);

    handler.release();
    expect((await first).status).toBe(204);
    expect((await deliver()).status).toBe(204);
    expect(handler.runs).toBe(1);
    expect(handler.maxRunning).toBe(1);
  });
});
