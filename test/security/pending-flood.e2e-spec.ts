import { Controller, Param, Post } from '@nestjs/common';
import { RequireApproval } from '../../lib/index.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { ADAPTERS, type StartedApp } from '../support/nest-apps.js';
import { startGatedApp } from '../support/gated-app.js';
import { Ledger } from '../support/ledger.js';

/**
 * Item 9 of the trust issue: nothing bounded how many blocking approvals one process held open, each
 * with a socket to the broker. `maxPendingApprovals` caps them; beyond it a call fails at once.
 */
const API_KEY = 'sk_test_SECRET_flood_1b7e';

@Controller()
class DeletesController {
  constructor(private readonly ledger: Ledger) {}

  @Post('deletes/:name')
  @RequireApproval('prod.delete', { summary: (name: string) => `Delete ${name}`, timeout: 20_000 })
  delete(@Param('name') name: string) {
    this.ledger.ran.push(name);
    return { deleted: name };
  }
}

describe.each(ADAPTERS)('a cap on pending blocking approvals (%s)', (adapter) => {
  let broker: LocalBroker;
  let started: StartedApp;

  beforeEach(async () => {
    ({ broker, started } = await startGatedApp(adapter, {
      apiKey: API_KEY,
      sesame: { maxPendingApprovals: 3 },
      controllers: [DeletesController],
      providers: [Ledger],
    }));
  });
  afterEach(async () => {
    await started.app.close();
    await broker.stop();
  });

  const post = async (name: string) => {
    const res = await fetch(`${started.url}/deletes/${name}`, { method: 'POST' });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('beyond maxPendingApprovals a call answers 503 approval_capacity_exceeded at once, asks nobody, and the cap frees as decisions land', async () => {
    const held = ['a', 'b', 'c'].map((name) => post(name));
    await broker.waitForHeldWaits(3);
    const started_ = Date.now();
    const over = await post('d');
    expect(over).toMatchObject({ status: 503, body: { code: 'approval_capacity_exceeded' } });
    expect(Date.now() - started_).toBeLessThan(1_000);
    expect(
      broker
        .list()
        .map((a) => a.summary)
        .sort(),
    ).toEqual(['Delete a', 'Delete b', 'Delete c']);

    await broker.approve(broker.list().find((a) => a.summary === 'Delete a')!.id);
    expect((await held[0]).status).toBe(201);
    const next = post('e');
    await broker.waitForApproval((a) => a.summary === 'Delete e');
    for (const approval of broker.list({ status: 'pending' })) await broker.deny(approval.id);
    expect((await Promise.all([held[1], held[2], next])).map((r) => r.status)).toEqual([403, 403, 403]);
    expect(started.app.get(Ledger).ran).toEqual(['a']);
  });
});
