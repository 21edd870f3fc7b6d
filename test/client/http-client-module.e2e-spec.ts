import { HttpModule, HttpService } from '@nestjs/axios';
import { Body, Controller, Post } from '@nestjs/common';
import { RequireApproval, SesameModule } from '../../lib/index.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { postJson } from '../support/http-requests.js';
import { HttpProxy } from '../support/http-proxy.js';
import { Ledger } from '../support/ledger.js';
import { ADAPTERS, startApp, type StartedApp } from '../support/nest-apps.js';

const API_KEY = 'sk_test_SECRET_http_module_8a4f';

@Controller('refunds')
class RefundsController {
  constructor(private readonly ledger: Ledger) {}

  @Post()
  @RequireApproval('refunds.create', { summary: (body: { amount: number }) => `Refund $${body.amount}` })
  refund(@Body() body: { amount: number }) {
    this.ledger.ran.push(`refund ${body.amount}`);
    return { refunded: body.amount };
  }
}

/** SesameModule.forRootAsync with @nestjs/axios: the app's HttpService (here through an egress proxy) carries the gate's calls. */
describe.each(ADAPTERS)('SesameModule with @nestjs/axios HttpService as its httpClient (%s)', (adapter) => {
  let broker: LocalBroker;
  let proxy: HttpProxy;
  let started: StartedApp;

  beforeEach(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY] });
    proxy = await HttpProxy.start();
    started = await startApp(adapter, {
      imports: [
        SesameModule.forRootAsync({
          imports: [HttpModule.register({ proxy: { protocol: 'http', host: '127.0.0.1', port: proxy.port } })],
          inject: [HttpService],
          useFactory: (http: HttpService) => ({ apiKey: API_KEY, baseUrl: broker.url, env: {}, httpClient: http }),
        }),
      ],
      controllers: [RefundsController],
      providers: [Ledger],
    });
  });
  afterEach(async () => {
    await started.app.close();
    await proxy.stop();
    await broker.stop();
  });

  it('a gated route waits for the human and runs once approved, every broker call through the HttpService', async () => {
    const answer = postJson(`${started.url}/refunds`, { amount: 42 });
    const pending = await broker.waitForApproval((a) => a.status === 'pending' && a.action === 'refunds.create');
    expect(pending.summary).toBe('Refund $42');
    await broker.waitForHeldWaits(1);
    expect(started.app.get(Ledger).ran).toEqual([]);
    await broker.approve(pending.id);

    expect(await answer).toMatchObject({ status: 201, body: { refunded: 42 } });
    expect(started.app.get(Ledger).ran).toEqual(['refund 42']);
    expect(proxy.forwarded.map((r) => r.method)).toEqual(['POST', 'GET']);
    expect(proxy.forwarded[0].url).toBe(`${broker.url}/v1/approvals`);
    expect(proxy.forwarded[1].url).toMatch(new RegExp(`/v1/approvals/${pending.id}/wait\\?timeout=\\d+$`));
  });

  it('a denied call does not run', async () => {
    const answer = postJson(`${started.url}/refunds`, { amount: 7 });
    const pending = await broker.waitForApproval((a) => a.status === 'pending');
    await broker.deny(pending.id);
    expect((await answer).status).toBe(403);
    expect(started.app.get(Ledger).ran).toEqual([]);
    expect(proxy.forwarded.length).toBeGreaterThanOrEqual(2);
  });
});
