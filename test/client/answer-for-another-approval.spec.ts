import { BrokerProtocolError, SesameClient } from '../../lib/index.js';
import { ScriptedServer, wireApproval } from '../support/scripted-server.js';
import { CLIENT_TRANSPORTS, transportOptions } from '../support/client-transports.js';

/**
 * A broker that answers a read or a wait with a different approval than the one asked about is off
 * protocol, and must not count as a decision: otherwise an approval of one operation could release
 * another (found by the broker-response fuzzing).
 */
describe.each(CLIENT_TRANSPORTS)('an answer about another approval (%s HTTP client)', (transport) => {
  let server: ScriptedServer;
  let client: SesameClient;
  const approvedOther = wireApproval({ id: 'apr_other', status: 'approved', decided_at: '2026-11-24T08:01:00.000Z' });

  beforeEach(async () => {
    server = await ScriptedServer.start();
    client = new SesameClient({ apiKey: 'sk_test_other_answer', baseUrl: server.url, retry: { retries: 0 }, ...transportOptions(transport) });
  });
  afterEach(async () => {
    client.close();
    await server.stop();
  });

  it('wait() refuses it with BrokerProtocolError', async () => {
    server.script({ status: 200, body: approvedOther });
    const error = await client.approvals.wait('apr_scripted', { timeout: 5_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerProtocolError);
    expect((error as Error).message).toContain('apr_scripted');
  });

  it('get() refuses it with BrokerProtocolError', async () => {
    server.script({ status: 200, body: approvedOther });
    await expect(client.approvals.get('apr_scripted')).rejects.toBeInstanceOf(BrokerProtocolError);
  });

  it('an Approval waiting on itself refuses it too', async () => {
    server.script({ status: 201, body: wireApproval() }, { status: 200, body: approvedOther });
    const approval = await client.approvals.trigger({ action: 'payments.refund', summary: 'Refund $42.00' });
    await expect(approval.wait({ timeout: 5_000 })).rejects.toBeInstanceOf(BrokerProtocolError);
  });
});
