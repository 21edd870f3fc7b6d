import net from 'node:net';
import { inspect } from 'node:util';
import { Controller, Get, Module, type INestApplication } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import request from 'supertest';
import {
  ApprovalStore,
  InMemoryApprovalStore,
  RedisApprovalStore,
  SesameConfigError,
  SesameHealthIndicator,
  SesameModule,
  type ApprovalStoreOption,
  type ClaimOutcome,
} from '../../lib/index.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { ADAPTERS, CapturingLogger, createApp, startApp, type AdapterName } from '../support/nest-apps.js';
import { RedisServer, whenRedisReady } from '../support/redis-server.js';
import { ScriptedServer } from '../support/scripted-server.js';

/**
 * SesameHealthIndicator in a real Nest app with TerminusModule and a /health controller, against the
 * real local broker and a real redis-server (with a password), then with each of them stopped, a
 * broker that accepts connections and never answers, and stores of one's own. Down answers carry no
 * secret: the API key and the Redis password hold CANARY, and neither the URLs nor the ports appear.
 */
const API_KEY = 'sk_live_CANARYkey_health_4b7e';
const PASSWORD = 'CANARYpw h3alth@p/ss:%?#';
const FAST = 500;

@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly sesame: SesameHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.sesame.isHealthy('sesame', { timeout: FAST })]);
  }

  @Get('default')
  @HealthCheck()
  checkWithDefaults() {
    return this.health.check([() => this.sesame.isHealthy()]);
  }
}

/** As the README has it: a health module of its own, SesameModule global. */
@Module({ imports: [TerminusModule], controllers: [HealthController], providers: [SesameHealthIndicator] })
class HealthModule {}

interface HealthApp {
  app: INestApplication;
  url: string;
  logger: CapturingLogger;
  indicator: SesameHealthIndicator;
}

/** A store of one's own (the module never closes it): the in-memory one behind it, and a `ping` the test decides, if any. */
class OwnStore implements ApprovalStore {
  private readonly inner = new InMemoryApprovalStore();
  ping?: () => Promise<void>;
  constructor(ping?: () => Promise<void>) {
    if (ping) this.ping = ping;
  }
  claim(key: string, token: string, lease: number): Promise<ClaimOutcome> {
    return this.inner.claim(key, token, lease);
  }
  renew(key: string, token: string, lease: number): Promise<boolean> {
    return this.inner.renew(key, token, lease);
  }
  complete(key: string, token: string, ttl: number): Promise<boolean> {
    return this.inner.complete(key, token, ttl);
  }
  release(key: string, token: string): Promise<void> {
    return this.inner.release(key, token);
  }
}

/** Accepts TCP connections and never answers a byte; counts the sockets still open. */
class BlackholeServer {
  private readonly sockets = new Set<net.Socket>();
  private constructor(private readonly server: net.Server) {
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('error', () => undefined);
      // Reads what it is sent (so it sees the peer hang up), writes nothing.
      socket.resume();
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  static async start(): Promise<BlackholeServer> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new BlackholeServer(server);
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  get open(): number {
    return this.sockets.size;
  }

  /** Resolves once every accepted socket has closed (the prober hung up); rejects after `timeoutMs`. */
  drained(timeoutMs = 2_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.sockets.size} socket(s) still open after ${timeoutMs} ms`)), timeoutMs);
      const check = () => {
        if (this.sockets.size > 0) return;
        clearTimeout(timer);
        resolve();
      };
      for (const socket of this.sockets) socket.once('close', () => setImmediate(check));
      check();
    });
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

async function startHealthApp(adapter: AdapterName, baseUrl: string, store?: ApprovalStoreOption): Promise<HealthApp> {
  const { app, url, logger } = await startApp(adapter, {
    imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl, env: {}, isGlobal: true, ...(store && { store }) }), HealthModule],
  });
  return { app, url, logger, indicator: app.get(SesameHealthIndicator) };
}

/** Everything one might print of an answer: the HTTP text, the parsed body's JSON and inspection. */
function printed(...values: unknown[]): string {
  return values.map((value) => (typeof value === 'string' ? value : `${JSON.stringify(value)}\n${inspect(value, { depth: Infinity, showHidden: true })}`)).join('\n');
}

describe('SesameHealthIndicator', () => {
  let broker: LocalBroker;
  let redis: RedisServer;
  let redisUrl: string;
  let closedBrokerUrl: string;
  const apps: INestApplication[] = [];
  const started = async (...args: Parameters<typeof startHealthApp>) => {
    const health = await startHealthApp(...args);
    apps.push(health.app);
    return health;
  };

  beforeAll(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY] });
    redis = await RedisServer.start({ requirePass: PASSWORD });
    redisUrl = `redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${redis.port}`;
    const stopped = await LocalBroker.start({ apiKeys: [API_KEY] });
    closedBrokerUrl = stopped.url;
    await stopped.stop();
  });
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
    await redis.start();
  });
  afterAll(async () => {
    await broker.stop();
    await redis.stop();
  });

  describe.each(ADAPTERS)('on %s', (adapter) => {
    it('is up with the real broker and a real Redis store', async () => {
      const { url } = await started(adapter, broker.url, { type: 'redis', url: redisUrl, keyPrefix: `health-${adapter}:` });
      const res = await request(url).get('/health');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        status: 'ok',
        info: { sesame: { status: 'up', broker: 'up', store: 'up' } },
        error: {},
        details: { sesame: { status: 'up', broker: 'up', store: 'up' } },
      });
    });

    it("is up with the in-memory store, reported as 'memory'", async () => {
      const { url } = await started(adapter, broker.url);
      const res = await request(url).get('/health');
      expect(res.status).toBe(200);
      expect(res.body.details).toEqual({ sesame: { status: 'up', broker: 'up', store: 'memory' } });
    });

    it('is down (503) with a stopped broker: the port refuses connections', async () => {
      const { url } = await started(adapter, closedBrokerUrl, { type: 'redis', url: redisUrl });
      const res = await request(url).get('/health');
      expect(res.status).toBe(503);
      expect(res.body).toEqual({
        status: 'error',
        info: {},
        error: { sesame: { status: 'down', broker: 'down', store: 'up', reason: 'broker unreachable (ECONNREFUSED)' } },
        details: { sesame: { status: 'down', broker: 'down', store: 'up', reason: 'broker unreachable (ECONNREFUSED)' } },
      });
    });

    it('is down (503) with a stopped Redis, and up again once it is back', async () => {
      const { url, app } = await started(adapter, broker.url, { type: 'redis', url: redisUrl });
      await redis.stop();
      const down = await request(url).get('/health');
      expect(down.status).toBe(503);
      expect(down.body.details).toEqual({ sesame: { status: 'down', broker: 'up', store: 'down', reason: 'approval store unavailable' } });

      await redis.start();
      await whenRedisReady(app.get<RedisApprovalStore>(ApprovalStore).client);
      const up = await request(url).get('/health');
      expect(up.status).toBe(200);
      expect(up.body.details).toEqual({ sesame: { status: 'up', broker: 'up', store: 'up' } });
    });
  });

  it('settles within its timeout when the broker accepts connections and never answers, and hangs up on it', async () => {
    const blackhole = await BlackholeServer.start();
    try {
      const { url } = await started('express', blackhole.url);
      const startedAt = Date.now();
      const res = await request(url).get('/health');
      const elapsed = Date.now() - startedAt;
      expect(res.status).toBe(503);
      expect(res.body.details).toEqual({ sesame: { status: 'down', broker: 'down', store: 'memory', reason: `broker did not answer within ${FAST} ms` } });
      // It did wait for the broker, and answered long before any test or proxy timeout would have cut it.
      expect(elapsed).toBeGreaterThanOrEqual(FAST - 20);
      expect(elapsed).toBeLessThan(FAST + 2_000);
      await blackhole.drained();
      expect(blackhole.open).toBe(0);
    } finally {
      await blackhole.stop();
    }
  });

  it('waits 3 s for a silent broker by default', async () => {
    const blackhole = await BlackholeServer.start();
    try {
      const { url } = await started('express', blackhole.url);
      const res = await request(url).get('/health/default');
      expect(res.status).toBe(503);
      expect(res.body.details.sesame.reason).toBe('broker did not answer within 3000 ms');
    } finally {
      await blackhole.stop();
    }
  });

  it('is down with both down, and no answer, log or inspection shows a secret, a URL or a port', async () => {
    const { url, indicator, logger } = await started('express', closedBrokerUrl, { type: 'redis', url: redisUrl });
    const upBefore = await request(url).get('/health');
    await redis.stop();
    const res = await request(url).get('/health');
    expect(res.status).toBe(503);
    const expected = { status: 'down', broker: 'down', store: 'down', reason: 'broker unreachable (ECONNREFUSED); approval store unavailable' };
    expect(res.body.details).toEqual({ sesame: expected });
    const direct = await indicator.isHealthy('sesame', { timeout: FAST });
    expect(direct).toEqual({ sesame: expected });

    const answers = printed(upBefore.text, upBefore.body, res.text, res.body, direct, indicator);
    const logs = logger.lines.join('\n');
    // Terminus logged the failed check (so the logs were looked at), the store its outage.
    expect(logs).toMatch(/Health Check has failed/);
    expect(logs).toMatch(/Approval store \(Redis\) unreachable/);
    for (const text of [answers, logs]) {
      expect(text).not.toMatch(/CANARY/);
      expect(text).not.toContain(encodeURIComponent('CANARYpw'));
      expect(text).not.toContain('redis://');
    }
    for (const port of [String(redis.port), new URL(closedBrokerUrl).port]) expect(answers).not.toContain(port);
    expect(answers).not.toContain('127.0.0.1');
    expect(inspect(indicator, { depth: Infinity, showHidden: true })).toBe('SesameHealthIndicator {}');
  });

  it('asks GET /healthz under the base URL, with no API key, and wants {"ok": true}', async () => {
    const scripted = await ScriptedServer.start();
    try {
      const { indicator } = await started('express', `${scripted.url}/sesame`);
      scripted.script({ status: 200, body: { ok: true } });
      await expect(indicator.isHealthy('sesame', { timeout: FAST })).resolves.toEqual({ sesame: { status: 'up', broker: 'up', store: 'memory' } });
      expect(scripted.requests).toHaveLength(1);
      expect(scripted.requests[0]).toMatchObject({ method: 'GET', url: '/sesame/healthz' });
      expect(scripted.requests[0].headers.authorization).toBeUndefined();
      expect(JSON.stringify(scripted.requests[0].headers)).not.toContain('CANARY');

      scripted.script({ status: 503, body: { error: { message: `down, key ${API_KEY}` } } });
      await expect(indicator.isHealthy('sesame', { timeout: FAST })).resolves.toEqual({
        sesame: { status: 'down', broker: 'down', store: 'memory', reason: 'broker answered HTTP 503' },
      });
      const other = { status: 'down', broker: 'down', store: 'memory', reason: 'broker answered /healthz with something else than {"ok": true}' };
      for (const body of [{ ok: 'yes' }, '<html>SPA</html>', '', { ok: true, padding: 'x'.repeat(2_000) }]) {
        scripted.script({ status: 200, body });
        await expect(indicator.isHealthy('sesame', { timeout: FAST })).resolves.toEqual({ sesame: other });
      }
      scripted.script({ drop: true });
      await expect(indicator.isHealthy('sesame', { timeout: FAST })).resolves.toEqual({
        sesame: { status: 'down', broker: 'down', store: 'memory', reason: 'broker unreachable (ECONNRESET)' },
      });
    } finally {
      await scripted.stop();
    }
  });

  it('answers under the key it is given', async () => {
    const { indicator } = await started('express', broker.url);
    await expect(indicator.isHealthy('approvals')).resolves.toEqual({ approvals: { status: 'up', broker: 'up', store: 'memory' } });
  });

  it("checks a store of one's own through its ping(), bounded by the timeout, and says 'unchecked' without one", async () => {
    const pinged: string[] = [];
    const cases: [OwnStore, Record<string, unknown>][] = [
      [new OwnStore(async () => void pinged.push('answers')), { status: 'up', broker: 'up', store: 'up' }],
      [new OwnStore(), { status: 'up', broker: 'up', store: 'unchecked' }],
      [
        new OwnStore(() => Promise.reject(new Error(`redis://:${PASSWORD}@10.0.0.7:6379 refused`))),
        { status: 'down', broker: 'up', store: 'down', reason: 'approval store unavailable' },
      ],
      [
        new OwnStore(() => {
          throw new Error(`sync ${PASSWORD}`);
        }),
        { status: 'down', broker: 'up', store: 'down', reason: 'approval store unavailable' },
      ],
      [new OwnStore(() => new Promise<void>(() => undefined)), { status: 'down', broker: 'up', store: 'down', reason: `approval store did not answer within ${FAST} ms` }],
    ];
    for (const [store, expected] of cases) {
      const { url } = await started('express', broker.url, store);
      const res = await request(url).get('/health');
      expect(res.status).toBe(expected.status === 'up' ? 200 : 503);
      expect(res.body.details).toEqual({ sesame: expected });
      expect(res.text).not.toMatch(/CANARY|10\.0\.0\.7/);
    }
    expect(pinged).toEqual(['answers']);
  });

  it('refuses a bad key or timeout with SesameConfigError', async () => {
    const { indicator } = await started('express', broker.url);
    for (const key of ['', 'k'.repeat(101), 42]) {
      await expect(indicator.isHealthy(key as string)).rejects.toThrow(
        new SesameConfigError('SesameHealthIndicator: key must be a non-empty string of at most 100 characters'),
      );
    }
    for (const timeout of [0, -1, 1.5, 60_001, '100', Number.NaN]) {
      await expect(indicator.isHealthy('sesame', { timeout: timeout as number })).rejects.toThrow(
        new SesameConfigError('SesameHealthIndicator: timeout must be a positive integer of milliseconds, at most 60000'),
      );
    }
  });

  it('fails at boot, with SesameConfigError, when no TerminusModule is in the app', async () => {
    @Module({ imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl: broker.url, env: {} })], providers: [SesameHealthIndicator] })
    class NoTerminusModule {}
    const { app } = await createApp('express', { imports: [NoTerminusModule] });
    try {
      await expect(app.init()).rejects.toThrow(
        new SesameConfigError('SesameHealthIndicator: no HealthIndicatorService in the app; import TerminusModule (from @nestjs/terminus) in the module that provides it'),
      );
    } finally {
      await app.close();
    }
  });
});
