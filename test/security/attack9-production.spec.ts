/**
 * Attack 9: the production integrations (issue 17) as an outsider sees them. The app's own axios
 * instance carrying the broker calls (hostile defaults, redirects, a caching adapter, late answers
 * after an abort, oversize answers, errors quoting the key), an OpenTelemetry SDK that misbehaves
 * (a span processor that throws, a context manager that calls back twice or throws), what the
 * exported spans and metrics carry, the health probe, and the OpenAPI metadata on a guarded route.
 * Everything real: Nest apps, the local broker, axios and its adapters, the OTel SDK.
 */
import { inspect } from 'node:util';
import { Body, Controller, Headers, Injectable, Post, UseGuards, type CanActivate, type ExecutionContext, type Type } from '@nestjs/common';
import { Controller as HealthControllerDecorator, Get, Module } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { ApiResponse, DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { Context, ContextManager } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import axios, { AxiosError, type AxiosAdapter, type AxiosResponse, type InternalAxiosRequestConfig } from 'axios';
import { generateWebhookSecret, RequireApproval, SesameConfigError, SesameHealthIndicator, SesameModule, type SesameModuleOptions } from '../../lib/index.js';
import { startGatedApp, type GatedApp } from '../support/gated-app.js';
import { Ledger } from '../support/ledger.js';
import { startApp } from '../support/nest-apps.js';
import { ScriptedServer, wireApproval } from '../support/scripted-server.js';
import { HostileSdk } from './attack9-fixtures.js';

const API_KEY = 'sk_live_CANARYkey_attack9_7d2c';
const IBAN = 'DE00CANARYIBAN9';
const http = axios.getAdapter('http');
const WEBHOOK_SECRET = generateWebhookSecret();

@Controller()
class PayController {
  constructor(private readonly ledger: Ledger) {}

  @Post('pay')
  @RequireApproval('attack9.pay', { summary: (body: { iban?: string }) => `Pay 10 EUR to ${body?.iban ?? 'nobody'}`, timeout: 4_000 })
  pay(@Body() body: { iban?: string }) {
    this.ledger.ran.push(`pay ${body?.iban ?? ''}`);
    return { paid: true };
  }

  @Post('quick')
  @RequireApproval('attack9.quick', { timeout: 400 })
  quick() {
    this.ledger.ran.push('quick');
    return { paid: true };
  }

  @Post('async')
  @RequireApproval('attack9.async', { mode: 'async' })
  later(@Headers('x-ignored') _ignored?: string) {
    this.ledger.ran.push('async');
    return { paid: true };
  }
}

const apps: GatedApp[] = [];
const servers: ScriptedServer[] = [];
afterEach(async () => {
  for (const { started, broker } of apps.splice(0)) {
    await started.app.close();
    await broker.stop();
  }
  for (const server of servers.splice(0)) await server.stop();
});

async function gated(sesame: Partial<SesameModuleOptions> = {}, controllers: Type[] = [PayController]) {
  const app = await startGatedApp('express', { apiKey: API_KEY, controllers, providers: [Ledger], sesame: { retry: { retries: 1, minDelay: 1, maxDelay: 5 }, ...sesame } });
  apps.push(app);
  return { ...app, url: app.started.url, ran: app.started.app.get(Ledger).ran, logs: app.started.logger.lines };
}

async function scripted(): Promise<ScriptedServer> {
  const server = await ScriptedServer.start();
  servers.push(server);
  return server;
}

const post = (url: string, body: unknown = {}, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A response as axios's own adapters give it (the body as bytes: the gate asks for arraybuffer). */
function answer(config: InternalAxiosRequestConfig, status: number, body: unknown): AxiosResponse {
  return { status, statusText: '', headers: {}, config, data: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) };
}

describe('httpClient: an instance whose defaults or adapter would change what the gate sends or reads', () => {
  it('hostile instance defaults (baseURL elsewhere, a 50 ms timeout, redirects followed, every status valid, a forging transformResponse) change nothing', async () => {
    const elsewhere = await scripted();
    elsewhere.script({ status: 201, body: wireApproval({ status: 'approved' }) });
    const forged = wireApproval({ id: 'apr_forged', action: 'attack9.pay', status: 'approved' });
    const instance = axios.create({
      baseURL: elsewhere.url,
      allowAbsoluteUrls: false,
      timeout: 50,
      maxRedirects: 5,
      validateStatus: () => true,
      transformResponse: [() => forged],
      responseType: 'json',
    });
    const { broker, url, ran } = await gated({ httpClient: instance });
    const pending = post(`${url}/pay`, { iban: IBAN });
    const approval = await broker.waitForApproval((a) => a.action === 'attack9.pay');
    await broker.waitForHeldWaits(1);
    await sleep(120); // past the instance's own timeout: the gate's long-poll is not cut by it
    await broker.approve(approval.id);
    expect((await pending).status).toBe(201);
    expect(ran).toEqual([`pay ${IBAN}`]);
    expect(elsewhere.requests).toEqual([]);
  });

  it.each(['http', 'fetch'] as const)('a broker answer redirecting to another host (%s adapter): not followed, the key never reaches it, nothing runs', async (adapter) => {
    const thief = await scripted();
    thief.script({ status: 201, body: wireApproval({ action: 'attack9.pay', status: 'approved' }) });
    const broker = await scripted();
    broker.script({ status: 307, headers: { location: `${thief.url}/v1/approvals` } });
    const { url, ran, logs } = await gated({ baseUrl: broker.url, httpClient: axios.create({ adapter, maxRedirects: 10 }) });
    const response = await post(`${url}/pay`, { iban: IBAN });
    expect(response.status).toBeGreaterThanOrEqual(500);
    expect(await response.text()).not.toContain(API_KEY);
    await sleep(50);
    expect(broker.requests.length).toBeGreaterThan(0);
    expect(thief.requests).toEqual([]);
    expect(ran).toEqual([]);
    expect(logs.join('\n')).not.toContain(API_KEY);
  });

  it("a caching adapter that replays the first call's trigger answer (an approved, used approval) for the next call: the next call does not run", async () => {
    let cached: AxiosResponse | undefined;
    const caching: AxiosAdapter = async (config) => {
      if (config.method === 'post' && cached) return { ...cached, config };
      const response = await http(config);
      if (config.method === 'post') cached = response;
      return response;
    };
    const { broker, url, ran } = await gated({ httpClient: axios.create({ adapter: caching }) });
    const first = post(`${url}/pay`, { iban: IBAN });
    const approval = await broker.waitForApproval((a) => a.action === 'attack9.pay');
    await broker.waitForHeldWaits(1);
    await broker.approve(approval.id);
    expect((await first).status).toBe(201);

    // The same request again, and one with other arguments: both get the first approval back.
    const again = await post(`${url}/pay`, { iban: IBAN });
    const other = await post(`${url}/pay`, { iban: 'FR00OTHER' });
    // Same binding: the replayed approval passes for it, and its single use refuses it; other arguments: refused as another call's.
    expect([again.status, other.status]).toEqual([409, 403]);
    expect([((await again.json()) as { code: string }).code, ((await other.json()) as { code: string }).code]).toEqual(['approval_already_used', 'approval_mismatch']);
    expect(ran).toEqual([`pay ${IBAN}`]);
  });

  it('an adapter that ignores the abort and answers "approved" after the gate timed out: the late answer releases nothing', async () => {
    let late: Promise<unknown> | undefined;
    const deaf: AxiosAdapter = (config) => {
      if (!config.url?.includes('/wait')) return http(config);
      // Ignores config.signal: holds the poll, then asks the broker again without it once the human has approved.
      const held = sleep(900).then(() => http({ ...config, signal: undefined } as InternalAxiosRequestConfig));
      late = held.catch(() => undefined);
      return held;
    };
    const { broker, url, ran } = await gated({ httpClient: axios.create({ adapter: deaf }) });
    const response = post(`${url}/quick`);
    const approval = await broker.waitForApproval((a) => a.action === 'attack9.quick');
    expect((await response).status).toBe(504);
    await broker.approve(approval.id); // within its expiry grace: a real approval, only too late
    await late;
    await sleep(100);
    expect(ran).toEqual([]);
  });

  it('an adapter that ignores maxContentLength and hands back an oversize "approved" wait answer: refused, nothing runs', async () => {
    let triggered: Record<string, unknown> | undefined;
    const oversize: AxiosAdapter = async (config) => {
      if (!config.url?.includes('/wait')) {
        const response = await http(config);
        triggered = JSON.parse(Buffer.from(response.data as Buffer).toString('utf8')) as Record<string, unknown>;
        return response;
      }
      return answer(config, 200, { ...triggered, status: 'approved', decided_at: new Date().toISOString(), padding: 'x'.repeat(config.maxContentLength! + 1) });
    };
    const { broker, url, ran } = await gated({ httpClient: axios.create({ adapter: oversize }) });
    const response = await post(`${url}/pay`, { iban: IBAN });
    expect(response.status).toBe(502);
    expect(broker.list().map((a) => a.status)).toEqual(['pending']);
    expect(ran).toEqual([]);
  });

  it('errors quoting the request config (Authorization header) from an adapter or an interceptor reach no log and no HTTP answer', async () => {
    const instance = axios.create({
      adapter: (config) =>
        Promise.reject(new AxiosError(`socket hang up; sent ${JSON.stringify(config.headers)} raw=${API_KEY}`, `E${API_KEY}`, config, { path: '/' }, undefined)),
    });
    instance.interceptors.request.use((config) => {
      if (config.method === 'get') throw new TypeError(`interceptor broke with headers ${JSON.stringify(config.headers)}`);
      return config;
    });
    const { url, ran, logs } = await gated({ httpClient: instance });
    const response = await post(`${url}/pay`, { iban: IBAN });
    expect(response.status).toBe(503);
    expect(await response.text()).not.toContain('CANARYkey');
    expect(logs.join('\n')).not.toContain('CANARYkey');
    expect(ran).toEqual([]);
  });
});

/** A span processor that throws where an exporter's bug would: on start or on end. */
class ThrowingProcessor implements SpanProcessor {
  constructor(private readonly at: 'start' | 'end') {}
  onStart(_span: Span): void {
    if (this.at === 'start') throw new Error('span processor broke on start');
  }
  onEnd(_span: ReadableSpan): void {
    if (this.at === 'end') throw new Error('exporter broke on end');
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

/** The SDK's AsyncLocalStorage context manager, with a `with` broken in one of two ways. */
class BrokenContextManager implements ContextManager {
  readonly #inner = new AsyncLocalStorageContextManager();
  #calls = 0;
  constructor(private readonly fault: 'calls-twice' | 'throws-after-first') {}
  active(): Context {
    return this.#inner.active();
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    const first = this.#inner.with(ctx, fn, thisArg, ...args);
    if (this.fault === 'throws-after-first') {
      if (this.#calls++ === 0) throw new Error('context manager broke on exit');
      return first;
    }
    void first;
    return this.#inner.with(ctx, fn, thisArg, ...args);
  }
  bind<T>(ctx: Context, target: T): T {
    return this.#inner.bind(ctx, target);
  }
  enable(): this {
    this.#inner.enable();
    return this;
  }
  disable(): this {
    this.#inner.disable();
    return this;
  }
}

describe('telemetry: an OpenTelemetry SDK that misbehaves never lets the gated method run twice or without approval', () => {
  let otel: HostileSdk;
  afterEach(async () => {
    await otel.uninstall();
  });

  it('a span processor that throws on start: the call fails before anything is asked or run', async () => {
    otel = HostileSdk.install({ spanProcessors: [new ThrowingProcessor('start')] });
    const { broker, url, ran } = await gated();
    const response = await post(`${url}/pay`, { iban: IBAN });
    expect(response.status).toBe(500);
    expect(broker.list()).toEqual([]);
    expect(ran).toEqual([]);
  });

  it('a span processor that throws on end: a blocking call runs once its approval is approved, and answers its own result', async () => {
    otel = HostileSdk.install({ spanProcessors: [new ThrowingProcessor('end')] });
    const { broker, url, ran } = await gated();
    const response = post(`${url}/pay`, { iban: IBAN });
    const approval = await broker.waitForApproval((a) => a.action === 'attack9.pay' && a.status === 'pending');
    await broker.approve(approval.id);
    expect((await response).status).toBe(201);
    expect(ran).toEqual([`pay ${IBAN}`]);
    expect(broker.list()).toHaveLength(1);
  });

  it('a span processor that throws on end: an approved async call runs once however often its approval is presented', async () => {
    otel = HostileSdk.install({ spanProcessors: [new ThrowingProcessor('end')] });
    const { broker, url, ran } = await gated();
    expect((await post(`${url}/async`)).status).toBe(202);
    const [approval] = broker.list();
    await broker.approve(approval!.id);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await post(`${url}/async`, {}, { 'sesame-approval-id': approval!.id })).status);
    expect(statuses).toEqual([201, 409, 409]);
    expect(ran).toEqual(['async']);
    expect(broker.list()).toHaveLength(1);
  });

  // FOUND AND FIXED (attack 9, telemetry; #safely in approval-telemetry.ts): a span processor whose onEnd throws (the SDK does not catch it)
  // replaces every gated call's answer with a 500, including a call that already ran: traceCall's
  // `.then` handlers call #end (span.end(), lib/telemetry/approval-telemetry.ts, traceCall) unguarded.
  // The approved method runs, its caller is told 500, and asking again without the id (async mode
  // steps past the used approval) puts a second approval of the same call before a human. The same
  // hides 202s and 409s. Fix: telemetry never changes an outcome: guard #end, #endWait and the
  // trigger span's end (try/catch, warn once).
  it('a span processor that throws on end: a call that ran answers its own result, not the telemetry error', async () => {
    otel = HostileSdk.install({ spanProcessors: [new ThrowingProcessor('end')] });
    const { broker, url, ran } = await gated();
    await post(`${url}/async`);
    const [approval] = broker.list();
    await broker.approve(approval!.id);
    const response = await post(`${url}/async`, {}, { 'sesame-approval-id': approval!.id });
    expect(ran).toEqual(['async']);
    expect(response.status).toBe(201);
  });

  // FOUND AND FIXED (attack 9, telemetry; #inSpan runs `run` once): ApprovalTelemetry.traceCall (lib/telemetry/approval-telemetry.ts, the
  // `api.context.with(..., run)` in traceCall) hands the whole gated run to the context manager; one
  // that calls its callback twice runs the gate twice for one call: two approvals are asked, and the
  // method runs twice when both are approved. Fix: pass `with` a once-only wrapper of `run` (a second
  // call rejects), and run nothing if `with` never called it.
  it('a context manager that calls back twice: one call asks for one approval and runs at most once', async () => {
    otel = HostileSdk.install({ contextManager: new BrokenContextManager('calls-twice') });
    const { broker, url, ran } = await gated();
    const response = post(`${url}/pay`, { iban: IBAN });
    const first = await broker.waitForApproval((a) => a.action === 'attack9.pay' && a.status === 'pending');
    await broker.approve(first.id);
    // A human approving what the dashboard shows: a second identical request, if there is one.
    const second = await broker.waitForApproval((a) => a.action === 'attack9.pay' && a.status === 'pending', { timeoutMs: 1_000 }).catch(() => undefined);
    if (second) await broker.approve(second.id);
    await response;
    await sleep(100);
    expect(ran).toHaveLength(1);
    expect(broker.list()).toHaveLength(1);
  });

  // FOUND AND FIXED (attack 9, telemetry; #inSpan answers the run it started): a context manager whose `with` throws after calling back
  // (lib/telemetry/approval-telemetry.ts traceCall, the catch around `api.context.with`) makes the
  // gate answer 500 at once while the gate it started keeps waiting; when the human approves, the
  // method runs with nobody told (and the caller, told it failed, retries into a second approval).
  // Fix: if `run` was called, return its promise whatever `with` threw afterwards (end the span with
  // it); only when it was not called, fail the call.
  it('a context manager that throws after calling back: the call answers the run it started, once', async () => {
    otel = HostileSdk.install({ contextManager: new BrokenContextManager('throws-after-first') });
    const { broker, url, ran } = await gated();
    const response = post(`${url}/pay`, { iban: IBAN });
    const approval = await broker.waitForApproval((a) => a.action === 'attack9.pay');
    await broker.approve(approval.id);
    // The gate it started is the call's answer: it ran once and says so (before the fix: 500 at once, then a run nobody was told of).
    expect((await response).status).toBe(201);
    await sleep(300);
    expect(ran).toEqual([`pay ${IBAN}`]);
    expect(broker.list()).toHaveLength(1);
  });

  it('what is exported carries no argument, summary, requester nor key, even for an error quoting them', async () => {
    otel = HostileSdk.install();
    const instance = axios.create();
    let failNext = false;
    instance.interceptors.request.use((config) => {
      if (failNext) throw new Error(`broke on ${JSON.stringify(config.headers)}`);
      return config;
    });
    const { broker, url } = await gated({ httpClient: instance });
    const approved = post(`${url}/pay`, { iban: IBAN }, { 'x-user': 'alice-CANARY' });
    const approval = await broker.waitForApproval((a) => a.action === 'attack9.pay');
    await broker.waitForHeldWaits(1);
    await broker.approve(approval.id);
    expect((await approved).status).toBe(201);
    failNext = true;
    expect((await post(`${url}/pay`, { iban: IBAN })).status).toBe(503);
    const exported = await otel.exportedText();
    expect(exported).toContain('attack9.pay');
    for (const secret of ['CANARY', IBAN, 'Pay 10 EUR', 'alice']) expect(exported).not.toContain(secret);
  });
});

describe('health and OpenAPI', () => {
  @HealthControllerDecorator('health')
  class HealthController {
    constructor(
      private readonly health: HealthCheckService,
      private readonly sesame: SesameHealthIndicator,
    ) {}
    @Get()
    @HealthCheck()
    check() {
      return this.health.check([() => this.sesame.isHealthy('sesame', { timeout: 300 })]);
    }
  }
  @Module({ imports: [TerminusModule], controllers: [HealthController], providers: [SesameHealthIndicator] })
  class HealthModule {}

  it('a broker URL with credentials is refused at boot without quoting them; the probe sends no key, and its down reasons name nothing', async () => {
    const broker = await scripted();
    broker.script({ status: 200, body: { ok: true } }, { status: 503, body: { ok: false, echo: API_KEY } }, { delayMs: 2_000, status: 200, body: { ok: true } });
    const withCredentials = broker.url.replace('http://', 'http://alice:CANARYpw@');
    const refused = await startApp('express', { imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl: withCredentials, env: {}, isGlobal: true }), HealthModule] }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(SesameConfigError);
    expect(inspect(refused, { showHidden: true, depth: Infinity })).not.toMatch(/CANARY|alice/);
    const started = await startApp('express', { imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl: broker.url, env: {}, isGlobal: true }), HealthModule] });
    try {
      const answers: string[] = [];
      for (let i = 0; i < 3; i++) answers.push(await (await fetch(`${started.url}/health`)).text());
      expect(answers[0]).toContain('"status":"ok"');
      expect(answers[1]).toContain('broker answered HTTP 503');
      expect(answers[2]).toContain('broker did not answer within 300 ms');
      for (const text of [...answers, started.logger.lines.join('\n')]) expect(text).not.toMatch(/CANARY|alice|127\.0\.0\.1/);
      const healthz = broker.requests.filter((r) => r.url === '/healthz');
      expect(broker.requests).toHaveLength(3);
      expect(healthz).toHaveLength(3);
      for (const r of healthz) expect(JSON.stringify(r.headers)).not.toMatch(/CANARY|authorization|alice/i);
    } finally {
      await started.app.close();
    }
  });

  /** Lets only `x-user` callers in: a guard the OpenAPI metadata must not take off the gated route. */
  @Injectable()
  class MembersOnly implements CanActivate {
    canActivate(ctx: ExecutionContext): boolean {
      const req = ctx.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; user?: unknown }>();
      if (!req.headers['x-user']) return false;
      req.user = { id: req.headers['x-user'] };
      return true;
    }
  }

  @Controller('docs')
  @UseGuards(MembersOnly)
  class DocumentedController {
    constructor(private readonly ledger: Ledger) {}
    @ApiResponse({ status: 403, description: 'ours' })
    @Post('pay')
    @RequireApproval('attack9.documented', { timeout: 2_000 })
    @ApiResponse({ status: 201, description: 'paid' })
    pay() {
      this.ledger.ran.push('documented');
      return { paid: true };
    }
  }

  it('the OpenAPI answers written on a gated route leave its guard in place and the document names no secret', async () => {
    const { broker, url, ran, started } = await gated({ webhookSecret: WEBHOOK_SECRET, bindingSecret: 'CANARYbindingsecret_attack9_0123456789' }, [DocumentedController]);
    expect((await post(`${url}/docs/pay`)).status).toBe(403);
    expect(broker.list()).toEqual([]);
    const pending = post(`${url}/docs/pay`, {}, { 'x-user': 'bob' });
    const approval = await broker.waitForApproval((a) => a.action === 'attack9.documented');
    await broker.waitForHeldWaits(1);
    await broker.approve(approval.id);
    expect((await pending).status).toBe(201);
    expect(ran).toEqual(['documented']);

    const document = JSON.stringify(SwaggerModule.createDocument(started.app, new DocumentBuilder().build()));
    expect(document).toContain('/docs/pay');
    expect(document).toContain('"description":"ours"');
    expect(document).not.toMatch(/CANARY|sk_live|whsec_/);
    expect(document).not.toContain(WEBHOOK_SECRET.slice(6));
  });
});
