import { inspect } from 'node:util';
import { HttpService } from '@nestjs/axios';
import axios, { AxiosError, type AxiosInstance, type InternalAxiosRequestConfig } from 'axios';
import {
  ApprovalAborted,
  ApprovalTimeout,
  BrokerProtocolError,
  BrokerUnavailableError,
  NotFoundError,
  RequestRejectedError,
  SesameAuthError,
  SesameClient,
  SesameConfigError,
  SesameModule,
  type SesameClientOptions,
} from '../../lib/index.js';
import { CLIENT_TRANSPORTS, transportOptions } from '../support/client-transports.js';
import { compileError } from '../support/nest-apps.js';
import { ScriptedServer, wireApproval } from '../support/scripted-server.js';

const API_KEY = 'sk_test_SECRET_axios_5b1e';
const FAST_RETRY = { retries: 2, minDelay: 1, maxDelay: 5 };

/** Every way an error can be shown: a log line, util.inspect (hidden fields, the cause chain), JSON. */
function exposures(error: unknown): string[] {
  const e = error as Error;
  return [
    String(e),
    e.stack ?? '',
    inspect(e, { depth: Infinity, showHidden: true, getters: true }),
    JSON.stringify(e),
    JSON.stringify(Object.fromEntries(Object.getOwnPropertyNames(e).map((name) => [name, String((e as unknown as Record<string, unknown>)[name])]))),
  ];
}

function expectNoKey(error: unknown): void {
  expect(error).toBeInstanceOf(Error);
  for (const shown of exposures(error)) expect(shown).not.toContain(API_KEY);
  // Nor in anything it points to: the cause is never the httpClient's error (which carries the request config).
  const cause = (error as { cause?: unknown }).cause;
  if (cause !== undefined) for (const shown of exposures(cause)) expect(shown).not.toContain(API_KEY);
}

describe('httpClient: the option', () => {
  it.each([
    ['an empty object', {}],
    ['a number', 42],
    ['null', null],
    ['a request that is not a function', { request: 'GET' }],
    ['an HttpService-like whose axiosRef has no request()', { axiosRef: {} }],
    [
      'a getter that throws',
      Object.defineProperty({}, 'axiosRef', {
        get: () => {
          throw new Error(API_KEY);
        },
      }),
    ],
  ])('refuses %s at construction with SesameConfigError', (_what, httpClient) => {
    const construct = () => new SesameClient({ apiKey: API_KEY, baseUrl: 'http://127.0.0.1:9', env: {}, httpClient: httpClient as SesameClientOptions['httpClient'] });
    expect(construct).toThrow(SesameConfigError);
    expect(construct).toThrow(/httpClient: must be an axios instance/);
    try {
      construct();
    } catch (error) {
      expectNoKey(error);
    }
  });

  it('SesameModule refuses it at boot, naming the option', async () => {
    const error = await compileError({ imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl: 'http://127.0.0.1:9', env: {}, httpClient: {} as never })] });
    expect(error).toBeInstanceOf(SesameConfigError);
    expect((error as Error).message).toMatch(/^SesameModule: Invalid Sesame client options: httpClient/);
  });

  it('accepts an axios instance, an HttpService and a hand-made axios-shaped client', () => {
    const instance = axios.create();
    for (const httpClient of [instance, new HttpService(instance), { request: (config: never) => instance.request(config) }]) {
      const client = new SesameClient({ apiKey: API_KEY, baseUrl: 'http://127.0.0.1:9', env: {}, httpClient });
      expect(inspect(client, { depth: Infinity, showHidden: true })).not.toContain(API_KEY);
      client.close();
    }
  });
});

describe('httpClient: an axios instance against a scripted broker', () => {
  let server: ScriptedServer;
  let instance: AxiosInstance;
  let seen: InternalAxiosRequestConfig[];
  let client: SesameClient;

  beforeEach(async () => {
    server = await ScriptedServer.start();
    seen = [];
    // Defaults that would change the client's behaviour if they applied: each request overrides them.
    instance = axios.create({ timeout: 50, maxRedirects: 5, maxContentLength: -1, validateStatus: (status) => status < 300, baseURL: 'http://127.0.0.1:9/elsewhere' });
    instance.interceptors.request.use((config) => {
      seen.push(config);
      config.headers.set('x-request-id', `trace-${seen.length}`);
      return config;
    });
    client = new SesameClient({ apiKey: API_KEY, baseUrl: server.url, env: {}, requestTimeout: 2_000, retry: FAST_RETRY, httpClient: instance });
  });
  afterEach(async () => {
    client.close();
    await server.stop();
  });

  it('goes through the instance: its interceptor adds a header the broker sees', async () => {
    server.script({ status: 201, body: wireApproval() }, { status: 200, body: wireApproval() });
    await client.approvals.trigger({ action: 'payments.refund', summary: 'Refund $42.00' });
    await client.approvals.get('apr_scripted');
    expect(seen).toHaveLength(2);
    expect(server.requests.map((r) => [r.method, r.url, r.headers['x-request-id'], r.headers.authorization])).toEqual([
      ['POST', '/v1/approvals', 'trace-1', `Bearer ${API_KEY}`],
      ['GET', '/v1/approvals/apr_scripted', 'trace-2', `Bearer ${API_KEY}`],
    ]);
  });

  it("sets each request's own timeout, abort signal, size cap, redirects and status handling over the instance defaults", async () => {
    server.script({ status: 200, body: wireApproval() });
    await client.approvals.get('apr_scripted');
    expect(seen[0]).toMatchObject({
      timeout: 0,
      maxRedirects: 0,
      maxContentLength: 1024 * 1024,
      validateStatus: null,
      responseType: 'arraybuffer',
      url: `${server.url}/v1/approvals/apr_scripted`,
    });
    expect(seen[0].signal).toBeInstanceOf(AbortSignal);
  });

  it("the instance's 50 ms timeout does not cut a long-poll the broker holds longer", async () => {
    server.script({ delayMs: 300, status: 200, body: wireApproval({ status: 'approved', decided_at: '2026-11-24T08:01:00.000Z' }) });
    await expect(client.approvals.wait('apr_scripted', { timeout: 5_000 })).resolves.toMatchObject({ approved: true });
    expect(server.requests).toHaveLength(1);
  });

  it("the client's own per-attempt timeout does apply: a stalled answer is retried, then BrokerUnavailableError", async () => {
    const impatient = new SesameClient({ apiKey: API_KEY, baseUrl: server.url, env: {}, requestTimeout: 100, retry: FAST_RETRY, httpClient: instance });
    server.script({ delayMs: 2_000, status: 200, body: wireApproval() });
    const error = await impatient.approvals.get('apr_scripted').catch((e: unknown) => e);
    impatient.close();
    expect(error).toBeInstanceOf(BrokerUnavailableError);
    expect((error as BrokerUnavailableError).lastFailure).toMatch(/ETIMEDOUT \(no answer within 100 ms\)/);
    expect(server.requests).toHaveLength(3);
    expectNoKey(error);
  });

  it("a 404 is the client's NotFoundError, not the instance's rejection for a status it does not validate", async () => {
    server.script({ status: 404, body: { error: { code: 'not_found', message: 'nope' } } });
    const error = await client.approvals.get('apr_missing').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).not.toBeInstanceOf(AxiosError);
  });

  it('an interceptor that throws quoting the key: retried as a network failure, then BrokerUnavailableError, masked', async () => {
    const failing = axios.create();
    let calls = 0;
    failing.interceptors.request.use((config) => {
      calls++;
      throw new Error(`token service refused ${String(config.headers.get('authorization'))}`);
    });
    const broken = new SesameClient({ apiKey: API_KEY, baseUrl: server.url, env: {}, retry: FAST_RETRY, httpClient: failing });
    const error = await broken.approvals.get('apr_scripted').catch((e: unknown) => e);
    broken.close();
    expect(error).toBeInstanceOf(BrokerUnavailableError);
    expect(calls).toBe(3);
    expect((error as BrokerUnavailableError).lastFailure).toMatch(/^httpClient failed: Error: token service refused Bearer \*\*\*/);
    expect(server.requests).toHaveLength(0);
    expectNoKey(error);
  });

  it('a request axios cannot make at all (a bad option) fails at once with BrokerProtocolError, masked', async () => {
    const badOption = axios.create();
    badOption.interceptors.request.use((config) => {
      throw new AxiosError(`bad option near ${String(config.headers.get('authorization'))}`, AxiosError.ERR_BAD_OPTION_VALUE, config);
    });
    const broken = new SesameClient({ apiKey: API_KEY, baseUrl: server.url, env: {}, retry: FAST_RETRY, httpClient: badOption });
    const error = await broken.approvals.get('apr_scripted').catch((e: unknown) => e);
    broken.close();
    expect(error).toBeInstanceOf(BrokerProtocolError);
    expect((error as Error).message).toMatch(/^Broker request not sent: the httpClient refused it \(ERR_BAD_OPTION_VALUE: bad option near Bearer \*\*\*\)/);
    expectNoKey(error);
  });

  it("a client whose request() returns no promise (HttpService's own request(), an Observable) is refused at the first call", async () => {
    const observableLike = { request: () => ({ subscribe: () => undefined }) } as never;
    const broken = new SesameClient({ apiKey: API_KEY, baseUrl: server.url, env: {}, retry: FAST_RETRY, httpClient: observableLike });
    const error = await broken.approvals.get('apr_scripted').catch((e: unknown) => e);
    broken.close();
    expect(error).toBeInstanceOf(BrokerProtocolError);
    expect((error as Error).message).toMatch(/did not return a promise/);
  });

  it('a response interceptor that turns the body into an object is refused, not guessed at', async () => {
    const decoding = axios.create();
    decoding.interceptors.response.use((response) => ({ ...response, data: { decoded: true } }));
    const broken = new SesameClient({ apiKey: API_KEY, baseUrl: server.url, env: {}, retry: FAST_RETRY, httpClient: decoding });
    server.script({ status: 200, body: wireApproval() });
    const error = await broken.approvals.get('apr_scripted').catch((e: unknown) => e);
    broken.close();
    expect(error).toBeInstanceOf(BrokerProtocolError);
    expect((error as Error).message).toMatch(/neither bytes nor text/);
  });
});

describe.each(CLIENT_TRANSPORTS)('no API key in any error the client raises (%s HTTP client)', (transport) => {
  let server: ScriptedServer;
  let client: SesameClient;
  /** What axios itself rejected with, when it is the transport: the proof that its errors do carry the key. */
  let axiosErrors: unknown[];

  beforeEach(async () => {
    server = await ScriptedServer.start();
    axiosErrors = [];
    const options = transportOptions(transport);
    if (options.httpClient) {
      (options.httpClient as AxiosInstance).interceptors.response.use(undefined, (error: unknown) => {
        axiosErrors.push(error);
        throw error;
      });
    }
    client = new SesameClient({ apiKey: API_KEY, baseUrl: server.url, env: {}, requestTimeout: 300, retry: FAST_RETRY, ...options });
  });
  afterEach(async () => {
    client.close();
    await server.stop();
  });

  const get = () => client.approvals.get('apr_scripted').catch((e: unknown) => e);

  it('an unreachable broker', async () => {
    await server.stop();
    const error = await get();
    expect(error).toBeInstanceOf(BrokerUnavailableError);
    expect((error as BrokerUnavailableError).lastFailure).toContain('ECONNREFUSED');
    expectNoKey(error);
    if (transport === 'axios') {
      expect(axiosErrors.length).toBeGreaterThan(0);
      expect(inspect(axiosErrors[0], { depth: Infinity })).toContain(API_KEY);
    }
    server = await ScriptedServer.start(); // afterEach stops it again
  });

  it('a dropped connection, every time', async () => {
    server.script({ drop: true });
    const error = await get();
    expect(error).toBeInstanceOf(BrokerUnavailableError);
    expectNoKey(error);
  });

  it('a stalled answer (the per-attempt timeout)', async () => {
    server.script({ delayMs: 2_000, status: 200, body: wireApproval() });
    const error = await get();
    expect(error).toBeInstanceOf(BrokerUnavailableError);
    expect((error as BrokerUnavailableError).lastFailure).toMatch(/ETIMEDOUT/);
    expectNoKey(error);
  });

  it('5xx through every retry, with an error page quoting the key', async () => {
    server.script({ status: 502, body: `<html>upstream refused Bearer ${API_KEY}</html>` });
    const error = await get();
    expect(error).toMatchObject({ attempts: 3, lastStatus: 502 });
    expectNoKey(error);
  });

  it.each([
    [401, SesameAuthError],
    [404, NotFoundError],
    [422, RequestRejectedError],
    [418, BrokerProtocolError],
  ])('HTTP %i with an error body quoting the key', async (status, type) => {
    server.script({ status, body: { error: { code: `code_${API_KEY}`, message: `you sent ${API_KEY}` } } });
    const error = await get();
    expect(error).toBeInstanceOf(type);
    expectNoKey(error);
  });

  it('a 2xx body quoting the key', async () => {
    server.script({ status: 200, body: wireApproval({ summary: `echo ${API_KEY}` }) });
    const error = await get();
    expect(error).toBeInstanceOf(BrokerProtocolError);
    expectNoKey(error);
  });

  it('a body over the size cap', async () => {
    server.script({ status: 200, body: wireApproval({ summary: 'x'.repeat(2 * 1024 * 1024) }) });
    const error = await get();
    expect(error).toBeInstanceOf(BrokerProtocolError);
    expect((error as Error).message).toMatch(/exceeds the 1048576-byte limit/);
    expect(server.requests).toHaveLength(1);
    expectNoKey(error);
  });

  it('a redirect to another host: refused, never followed with the key', async () => {
    const elsewhere = await ScriptedServer.start();
    try {
      elsewhere.script({ status: 200, body: wireApproval() });
      server.script({ status: 302, headers: { location: `${elsewhere.url}/v1/approvals/apr_scripted` } });
      const error = await get();
      expect(error).toBeInstanceOf(BrokerProtocolError);
      expect((error as Error).message).toMatch(/Unexpected HTTP 302/);
      expect(elsewhere.requests).toHaveLength(0);
      expectNoKey(error);
    } finally {
      await elsewhere.stop();
    }
  });

  it('a wait past its deadline, and an aborted one', async () => {
    server.script({ delayMs: 2_000, status: 200, body: wireApproval() });
    const timedOut = await client.approvals.wait('apr_scripted', { timeout: 200 }).catch((e: unknown) => e);
    expect(timedOut).toBeInstanceOf(ApprovalTimeout);
    expectNoKey(timedOut);
    const controller = new AbortController();
    const waiting = client.approvals.wait('apr_scripted', { timeout: 60_000, signal: controller.signal }).catch((e: unknown) => e);
    await server.waitForRequests(2);
    controller.abort(new Error('client went away'));
    const aborted = await waiting;
    expect(aborted).toBeInstanceOf(ApprovalAborted);
    expectNoKey(aborted);
  });
});
