import { Body, Controller, Post } from '@nestjs/common';
import { RequireApproval, SesameModule } from '../../lib/index.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { ADAPTERS, startApp } from '../support/nest-apps.js';

const ran: string[] = [];

@Controller()
class RefundsController {
  @Post('refunds')
  @RequireApproval('payments.refund', { timeout: 300_000 })
  refund(@Body() body: { amount: number }) {
    ran.push(`refund:${body.amount}`);
    return { refunded: body.amount };
  }
}

describe.each(ADAPTERS)('app.close() while a gated route waits (%s)', (adapter) => {
  it('ends the wait at once: the caller gets 503, nothing runs, and close() returns', async () => {
    ran.length = 0;
    const broker = await LocalBroker.start();
    const { app, url } = await startApp(adapter, {
      imports: [SesameModule.forRoot({ apiKey: broker.apiKey, baseUrl: broker.url, env: {} })],
      controllers: [RefundsController],
    });
    try {
      const response = fetch(`${url}/refunds`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ amount: 42 }),
      });
      await broker.waitForHeldWaits(1);
      // Without the fix this waited for the gate's 5-minute timeout; the Jest timeout bounds it.
      await app.close();
      const res = await response;
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ code: 'approval_aborted_shutdown' });
      const [approval] = broker.list();
      await broker.approve(approval.id);
      expect(ran).toEqual([]);
    } finally {
      await broker.stop();
    }
  }, 15_000);
});
