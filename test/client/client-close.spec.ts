import { ApprovalAborted, SesameClient } from '../../lib/index.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { CLIENT_TRANSPORTS, transportOptions } from '../support/client-transports.js';

/**
 * SesameModule closes its client when the app shuts down. A wait still in flight must end then,
 * typed, instead of reconnecting through the closed client and keeping the process alive until its
 * own timeout (found by the fault-injection suite: handles left after app.close()).
 */
describe.each(CLIENT_TRANSPORTS)('SesameClient.close() (%s HTTP client)', (transport) => {
  let broker: LocalBroker;
  let client: SesameClient;

  beforeEach(async () => {
    broker = await LocalBroker.start();
    client = new SesameClient({ apiKey: broker.apiKey, baseUrl: broker.url, retry: { retries: 4, minDelay: 50, maxDelay: 100 }, ...transportOptions(transport) });
  });
  afterEach(async () => {
    client.close();
    await broker.stop();
  });

  it('ends a wait in flight at once with ApprovalAborted, and the broker sees the long-poll go away', async () => {
    const approval = await client.approvals.trigger({ action: 'db.drop', summary: 'Drop the table' });
    const waiting = approval.wait({ timeout: 60_000 }).catch((error: unknown) => error);
    await broker.waitForHeldWaits(1);

    const closedAt = Date.now();
    client.close();
    const error = await waiting;
    expect(error).toBeInstanceOf(ApprovalAborted);
    expect((error as ApprovalAborted).approvalId).toBe(approval.id);
    expect(Date.now() - closedAt).toBeLessThan(1_000);
    await broker.waitForHeldWaits(0, { timeoutMs: 2_000 });
    expect(broker.get(approval.id)?.status).toBe('pending');
  });

  it('refuses new requests after close, without reaching the broker', async () => {
    client.close();
    let created = 0;
    broker.on('approval.created', () => created++);
    await expect(client.approvals.trigger({ action: 'db.drop', summary: 'Drop the table' })).rejects.toBeInstanceOf(ApprovalAborted);
    await expect(client.approvals.get('apr_unknown')).rejects.toBeInstanceOf(ApprovalAborted);
    expect(created).toBe(0);
  });
});
