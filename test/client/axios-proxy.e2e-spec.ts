import axios from 'axios';
import { ApprovalAborted, BrokerProtocolError, SesameClient } from '../../lib/index.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { HttpProxy } from '../support/http-proxy.js';

const API_KEY = 'sk_test_SECRET_proxy_2c9d';
const PROXY_USER = { username: 'egress', password: 'proxy-pass-77' };

/** An app behind an egress proxy: its axios instance (proxy, interceptors) carries every call to the real local broker. */
describe('SesameClient with an axios instance through a forward HTTP proxy', () => {
  let broker: LocalBroker;
  let proxy: HttpProxy;
  let client: SesameClient;

  beforeEach(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY] });
    proxy = await HttpProxy.start({ credentials: PROXY_USER });
    const instance = axios.create({ proxy: { protocol: 'http', host: '127.0.0.1', port: proxy.port, auth: PROXY_USER } });
    let sent = 0;
    instance.interceptors.request.use((config) => {
      config.headers.set('x-request-id', `app-${++sent}`);
      return config;
    });
    client = new SesameClient({ apiKey: API_KEY, baseUrl: broker.url, env: {}, httpClient: instance });
  });
  afterEach(async () => {
    client.close();
    await proxy.stop();
    await broker.stop();
  });

  it('trigger, wait, approve: every call went through the proxy, with the interceptor header and the key, and no proxy credentials upstream', async () => {
    const approval = await client.approvals.trigger({ action: 'payments.refund', summary: 'Refund $42.00 to alice' });
    const waiting = approval.wait({ timeout: 10_000 });
    await broker.waitForHeldWaits(1);
    await broker.approve(approval.id);
    const decided = await waiting;
    expect(decided.approved).toBe(true);

    expect(proxy.forwarded.map((r) => [r.method, r.url])).toEqual([
      ['POST', `${broker.url}/v1/approvals`],
      ['GET', expect.stringMatching(new RegExp(`^${broker.url}/v1/approvals/${approval.id}/wait\\?timeout=\\d+$`))],
    ]);
    expect(proxy.forwarded.map((r) => r.headers['x-request-id'])).toEqual(['app-1', 'app-2']);
    for (const r of proxy.forwarded) {
      expect(r.headers.authorization).toBe(`Bearer ${API_KEY}`);
      expect(r.headers['proxy-authorization']).toBeUndefined();
    }
    expect(proxy.refused).toBe(0);
  });

  it('an abort ends the held long-poll at the broker, through the proxy', async () => {
    const approval = await client.approvals.trigger({ action: 'db.drop', summary: 'Drop the table' });
    const controller = new AbortController();
    const waiting = approval.wait({ timeout: 60_000, signal: controller.signal }).catch((e: unknown) => e);
    await broker.waitForHeldWaits(1);
    controller.abort();
    expect(await waiting).toBeInstanceOf(ApprovalAborted);
    await broker.waitForHeldWaits(0, { timeoutMs: 2_000 });
  });

  it('the proxy is really in the path: without its credentials nothing reaches the broker (407 is a BrokerProtocolError)', async () => {
    const noAuth = new SesameClient({
      apiKey: API_KEY,
      baseUrl: broker.url,
      env: {},
      httpClient: axios.create({ proxy: { protocol: 'http', host: '127.0.0.1', port: proxy.port } }),
    });
    const error = await noAuth.approvals.trigger({ action: 'payments.refund', summary: 'Refund' }).catch((e: unknown) => e);
    noAuth.close();
    expect(error).toBeInstanceOf(BrokerProtocolError);
    expect((error as Error).message).toMatch(/HTTP 407/);
    expect(proxy.refused).toBe(1);
    expect(proxy.forwarded).toHaveLength(0);
    expect(broker.list()).toHaveLength(0);
  });
});
