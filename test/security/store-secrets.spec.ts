import net from 'node:net';
import { inspect } from 'node:util';
import { Body, Controller, Injectable, Post, type INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import {
  ApprovalDecisionDispatcher,
  ApprovalGate,
  ApprovalStore,
  ApprovalStoreUnavailableError,
  OnApprovalDecision,
  RedisApprovalStore,
  RequireApproval,
  SesameConfigError,
  SesameModule,
  signWebhook,
  type ApprovalStoreOption,
} from '../../lib/index.js';
import { SesameConfig } from '../../lib/config/sesame.config.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { ApprovalGateExplorer } from '../../lib/approval-gate/approval-gate.explorer.js';
import { CapturingLogger, compileError, startApp } from '../support/nest-apps.js';
import { RedisServer, whenRedisReady } from '../support/redis-server.js';
import { freePort } from '../support/free-port.js';

/**
 * The Redis password (and the API key and webhook secret next to it) never surfaces: not in a log
 * line, an error's message, stack, fields or cause chain, an HTTP answer, nor in util.inspect (any
 * depth, hidden properties included) or JSON.stringify of the store, the gate, or anything they hold.
 * Real redis-server (with --requirepass), real Nest apps, real local broker.
 */
const API_KEY = 'sk_live_CANARYkey_store_5e1f';
const SECRET_BODY = Buffer.from('CANARY-store-webhook-secret-77').toString('base64');
const WEBHOOK_SECRET = `whsec_${SECRET_BODY}`;
// Every password holds CANARYpw, so a hit on it also catches partial and re-encoded leaks.
// The server's password needs percent-encoding in a URL (space, @, /, :, %, ?, #).
const PASSWORD = 'CANARYpw r!ght p@ss/w:rd%?#';
const WRONG_PASSWORD = 'CANARYpw-wrong-61ac';
const enc = encodeURIComponent;
const CANARIES = ['CANARYpw', enc('CANARYpw'), 'p@ss/w:rd', enc('p@ss/w:rd'), 'CANARYkey', 'CANARY-store-webhook', SECRET_BODY];

const captured: string[] = [];
const push = (label: string, ...texts: string[]) => captured.push(...texts.map((t) => `[${label}] ${t}`));

function stringify(value: unknown): string {
  try {
    return String(JSON.stringify(value));
  } catch (error) {
    return `JSON.stringify threw: ${(error as Error).message}`;
  }
}

/**
 * Everything a developer might print of an object. `getters` also runs its accessors (SesameConfig's
 * inspection shows its settings only, so its accessors that hand out keys are not run by inspect).
 */
function captureObject(label: string, value: unknown, { getters = false } = {}): void {
  push(label, inspect(value, { depth: Infinity, showHidden: true }), stringify(value));
  if (getters) push(label, inspect(value, { depth: Infinity, showHidden: true, getters: true }));
}

/** Message, stack, every own field (enumerable or not), inspection and JSON, along the whole cause chain. */
function captureError(label: string, error: unknown): void {
  captureObject(label, error, { getters: true });
  push(label, String(error));
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 10; depth++) {
    push(label, current.message, current.stack ?? '');
    for (const key of Reflect.ownKeys(current))
      push(label, `${String(key)}=${inspect((current as unknown as Record<PropertyKey, unknown>)[key], { depth: Infinity, showHidden: true })}`);
    current = current.cause;
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

/**
 * A Redis peer that quotes the password it was sent back in its error replies, as Redis < 6 does for
 * the arguments of commands it does not know and a misbehaving proxy may do for any. Mode `auth`
 * refuses AUTH quoting it; mode `eval` accepts AUTH and refuses every script quoting it (and a URL
 * with it). It proves the store scrubs what ioredis relays, rather than trusting servers not to echo.
 */
class EchoingRedisPeer {
  private constructor(
    private readonly server: net.Server,
    private readonly sockets: Set<net.Socket>,
    readonly port: number,
  ) {}

  static async start(mode: 'auth' | 'eval'): Promise<EchoingRedisPeer> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      let buffer = '';
      let password = '';
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        for (let parsed = parseCommand(buffer); parsed; parsed = parseCommand(buffer)) {
          buffer = buffer.slice(parsed.length);
          const [name = '', ...args] = parsed.args;
          const command = name.toUpperCase();
          if (command === 'HELLO') socket.write(`-ERR unknown command 'HELLO', with args beginning with: ${args.map((a) => `'${a}'`).join(' ')}\r\n`);
          else if (command === 'AUTH') {
            password = args[args.length - 1] ?? '';
            socket.write(mode === 'auth' ? `-ERR invalid password '${password}'\r\n` : '+OK\r\n');
          } else if (command === 'INFO') {
            const info = '# Server\r\nredis_version:5.0.0\r\nloading:0\r\n';
            socket.write(`$${Buffer.byteLength(info)}\r\n${info}\r\n`);
          } else if (command === 'EVAL' || command === 'EVALSHA') {
            socket.write(`-ERR script refused for redis://default:${enc(password)}@127.0.0.1 (password '${password}')\r\n`);
          } else if (command === 'QUIT') socket.end('+OK\r\n');
          else socket.write('+OK\r\n');
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new EchoingRedisPeer(server, sockets, (server.address() as net.AddressInfo).port);
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }
}

/** One RESP array of bulk strings off the front of `buffer`, or undefined while it is incomplete. */
function parseCommand(buffer: string): { args: string[]; length: number } | undefined {
  const bytes = Buffer.from(buffer, 'utf8');
  let offset = 0;
  const line = () => {
    const end = bytes.indexOf('\r\n', offset);
    if (end === -1) return undefined;
    const text = bytes.subarray(offset, end).toString('utf8');
    offset = end + 2;
    return text;
  };
  const header = line();
  if (header === undefined || !header.startsWith('*')) return undefined;
  const args: string[] = [];
  for (let i = 0; i < Number(header.slice(1)); i++) {
    const size = line();
    if (size === undefined) return undefined;
    const n = Number(size.slice(1));
    if (bytes.length < offset + n + 2) return undefined;
    args.push(bytes.subarray(offset, offset + n).toString('utf8'));
    offset += n + 2;
  }
  return { args, length: bytes.subarray(0, offset).toString('utf8').length };
}

@Controller()
class OpsController {
  @Post('ops')
  @RequireApproval('ops.run', { mode: 'async' })
  run(@Body() body: unknown) {
    return { ran: body };
  }
}

@Injectable()
class DecisionHandlers {
  @OnApprovalDecision('ops.run')
  onDecision() {}
}

interface Booted {
  app: INestApplication;
  url: string;
  store: RedisApprovalStore;
}

describe('the Redis password never surfaces', () => {
  let redis: RedisServer;
  let broker: LocalBroker;
  const restore: (() => void)[] = [];
  const loggers: CapturingLogger[] = [];

  const moduleFor = (store: ApprovalStoreOption) => ({
    imports: [SesameModule.forRoot({ apiKey: API_KEY, webhookSecret: WEBHOOK_SECRET, webhookPath: '/sesame/webhook', baseUrl: broker.url, store, env: {} })],
    controllers: [OpsController],
    providers: [DecisionHandlers],
  });

  async function boot(store: ApprovalStoreOption): Promise<Booted> {
    const logger = new CapturingLogger();
    loggers.push(logger);
    const { app, url } = await startApp('express', moduleFor(store), undefined, { logger });
    return { app, url, store: app.get<RedisApprovalStore>(ApprovalStore) };
  }

  /** A boot that must fail: returns its error. */
  async function failedBoot(store: ApprovalStoreOption): Promise<unknown> {
    const logger = new CapturingLogger();
    loggers.push(logger);
    return compileError(moduleFor(store), { logger });
  }

  async function post(url: string, body: string, headers: Record<string, string> = {}): Promise<number> {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    const lines: string[] = [];
    res.headers.forEach((value, name) => lines.push(`${name}: ${value}`));
    push(`answer ${res.status} ${url}`, lines.join('\n'), await res.text());
    return res.status;
  }

  /** An async gated call run with its approval, then a signed decision webhook: the two paths that use the store. */
  async function useStore({ url }: Booted): Promise<number[]> {
    const payload = JSON.stringify({ n: Math.random() });
    const first = await fetch(`${url}/ops`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload });
    const id = first.headers.get('sesame-approval-id');
    const text = await first.text();
    push('answer first', String(first.status), text);
    // The body takes part only when the status is wrong, so that a failure shows why.
    expect({ status: first.status, id, body: first.status === 202 ? 'pending' : text }).toEqual({ status: 202, id: expect.any(String), body: 'pending' });
    await broker.approve(id!);
    const ran = await post(`${url}/ops`, payload, { 'sesame-approval-id': id! });
    const hook = JSON.stringify({ approval_id: id, action: 'ops.run', status: 'approved', decided_at: new Date().toISOString(), requester_label: 'local' });
    const delivered = await post(`${url}/sesame/webhook`, hook, { ...signWebhook(hook, WEBHOOK_SECRET) });
    return [ran, delivered];
  }

  /** What a curious developer might print of a running app. */
  function captureApp(label: string, { app, store }: Booted): void {
    captureObject(`${label} store`, store, { getters: true });
    captureObject(`${label} store.client`, store.client, { getters: true });
    captureObject(`${label} ApprovalStore provider`, app.get(ApprovalStore));
    captureObject(`${label} gate`, app.get(ApprovalGate), { getters: true });
    captureObject(`${label} config`, app.get(SesameConfig), { getters: true });
    captureObject(`${label} dispatcher`, app.get(ApprovalDecisionDispatcher));
    captureObject(`${label} explorer`, app.get(ApprovalGateExplorer));
  }

  beforeAll(async () => {
    for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
      const original = console[method];
      console[method] = (...args: unknown[]) => push(`console.${method}`, args.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: Infinity }))).join(' '));
      restore.push(() => (console[method] = original));
    }
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write.bind(stream);
      stream.write = ((chunk: unknown, ...rest: unknown[]) => {
        push('std', typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString());
        return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof stream.write;
      restore.push(() => (stream.write = original as typeof stream.write));
    }
    redis = await RedisServer.start({ requirePass: PASSWORD });
    broker = await LocalBroker.start({ apiKeys: [API_KEY], webhookSecret: WEBHOOK_SECRET, logger: { log: (line: string) => push('broker', line) } });
  });

  afterAll(async () => {
    await broker?.stop();
    await redis?.stop();
    for (const undo of restore.splice(0)) undo();
  });

  it('a malformed URL with a password fails at boot with a SesameConfigError naming the problem, never the password', async () => {
    const cases: [url: string, problem: RegExp][] = [
      [`redis://:${enc(PASSWORD)}@127.0.0.1:6379x`, /url is not a valid URL/],
      [`redis://:${WRONG_PASSWORD}@127.0.0.1:6379x`, /url is not a valid URL/],
      [`rediss://user:${WRONG_PASSWORD}@127.0.0.1:99999`, /url is not a valid URL/],
      [`redis://user:${enc(PASSWORD)}@[::1:6379`, /url is not a valid URL/],
      [`redis://:${WRONG_PASSWORD}%E0%A4@127.0.0.1:6379`, /percent-encod/],
      [`redis://:${WRONG_PASSWORD}@127.0.0.1:6379/db1`, /database number/],
      [`redis://:${WRONG_PASSWORD}@:6379`, /url is not a valid URL|host/],
      [`http://:${WRONG_PASSWORD}@127.0.0.1:6379`, /url must look like redis:\/\//],
      [`redis:${WRONG_PASSWORD}@127.0.0.1`, /url must look like redis:\/\//],
    ];
    for (const [url, problem] of cases) {
      const atBoot = await failedBoot({ type: 'redis', url });
      expect(atBoot).toBeInstanceOf(SesameConfigError);
      expect((atBoot as Error).message).toMatch(problem);
      captureError(`boot ${problem}`, atBoot);
      const direct = await rejection(RedisApprovalStore.connect({ url, logger: loggers[0] }));
      expect(direct).toBeInstanceOf(SesameConfigError);
      expect((direct as Error).message).toMatch(problem);
      captureError(`connect ${problem}`, direct);
    }
    // Options ioredis' constructor itself refuses: its error is not passed on as is.
    const refused = await failedBoot({ type: 'redis', url: redis.url, connection: { password: WRONG_PASSWORD, protocol: 2, replyMapping: 'resp3' } });
    expect(refused).toBeInstanceOf(SesameConfigError);
    expect((refused as Error).message).toMatch(/ioredis refused the options: .*resp3/);
    captureError('ioredis refused', refused);
  });

  it('a wrong password (WRONGPASS), no password (NOAUTH) or a TLS URL against a plain server: boots, fails closed with 503, and shows the password nowhere', async () => {
    const setups: ApprovalStoreOption[] = [
      { type: 'redis', url: `redis://:${WRONG_PASSWORD}@127.0.0.1:${redis.port}` },
      { type: 'redis', url: `redis://default:${enc(`${PASSWORD}-not`)}@127.0.0.1:${redis.port}/0` },
      { type: 'redis', url: redis.url, connection: { password: WRONG_PASSWORD } },
      { type: 'redis', url: redis.url, connection: { username: 'default', password: `${PASSWORD}x` } },
      { type: 'redis', url: redis.url },
      { type: 'redis', url: `rediss://default:${enc(PASSWORD)}@127.0.0.1:${redis.port}`, connection: { connectTimeout: 500 } },
    ];
    for (const [index, store] of setups.entries()) {
      const booted = await boot(store);
      try {
        const label = `setup ${index}`;
        expect(await useStore(booted)).toEqual([503, 503]);
        const error = await rejection(booted.store.claim('approval:apr_x', 'tok', 60_000));
        expect(error).toBeInstanceOf(ApprovalStoreUnavailableError);
        captureError(`${label} claim`, error);
        captureApp(label, booted);
        expect(loggers.at(-1)!.lines).toContainEqual(expect.stringMatching(/Approval store \(Redis\) unreachable/));
      } finally {
        await booted.app.close();
      }
    }
    const lines = loggers.flatMap((l) => l.lines).join('\n');
    expect(lines).toMatch(/WRONGPASS/);
    expect(lines).toMatch(/NOAUTH/);
  });

  it('the right password (percent-encoded in the URL, or in connection): works, and inspecting the store, the gate and the provider shows no password', async () => {
    const setups: ApprovalStoreOption[] = [
      { type: 'redis', url: `redis://:${enc(PASSWORD)}@127.0.0.1:${redis.port}` },
      { type: 'redis', url: `redis://default:${enc(PASSWORD)}@127.0.0.1:${redis.port}/1`, keyPrefix: 'enc:' },
      { type: 'redis', url: redis.url, connection: { password: PASSWORD } },
      { type: 'redis', connection: { host: '127.0.0.1', port: redis.port, username: 'default', password: PASSWORD } },
    ];
    for (const [index, store] of setups.entries()) {
      const booted = await boot(store);
      try {
        expect(await useStore(booted)).toEqual([201, 204]);
        await expect(booted.store.claim(`approval:apr_fine_${index}`, 'tok', 60_000)).resolves.toBe('claimed');
        captureApp(`right ${index}`, booted);
      } finally {
        await booted.app.close();
      }
    }
  });

  it('Redis down at boot and going down while running: fails closed, recovers, and shows the password nowhere', async () => {
    const dead = await freePort();
    for (const store of [
      { type: 'redis', url: `redis://:${enc(PASSWORD)}@127.0.0.1:${dead}` },
      { type: 'redis', url: `rediss://user:${WRONG_PASSWORD}@127.0.0.1:${dead}` },
      { type: 'redis', url: `redis://127.0.0.1:${dead}`, connection: { password: PASSWORD } },
    ] satisfies ApprovalStoreOption[]) {
      const booted = await boot(store);
      try {
        expect(await useStore(booted)).toEqual([503, 503]);
        captureError('down claim', await rejection(booted.store.claim('approval:apr_down', 'tok', 60_000)));
        captureApp('down', booted);
        expect(loggers.at(-1)!.lines).toContainEqual(expect.stringMatching(/unreachable: .*ECONNREFUSED/));
      } finally {
        await booted.app.close();
      }
    }

    const booted = await boot({ type: 'redis', url: redis.url, connection: { password: PASSWORD } });
    try {
      expect(await useStore(booted)).toEqual([201, 204]);
      await redis.stop();
      expect(await useStore(booted)).toEqual([503, 503]);
      captureError('outage claim', await rejection(booted.store.claim('approval:apr_outage', 'tok', 60_000)));
      captureApp('outage', booted);
      await redis.start();
      await whenRedisReady(booted.store.client);
      expect(await useStore(booted)).toEqual([201, 204]);
      expect(loggers.at(-1)!.lines).toContainEqual(expect.stringContaining('Approval store (Redis) reachable again'));
    } finally {
      await booted.app.close();
      if (!redis.running) await redis.start();
    }
  });

  it('a server that quotes the password back: the store scrubs it from its logs and from ApprovalStoreUnavailableError', async () => {
    for (const mode of ['auth', 'eval'] as const) {
      const peer = await EchoingRedisPeer.start(mode);
      const logger = new CapturingLogger();
      loggers.push(logger);
      for (const options of [
        { url: `redis://default:${enc(PASSWORD)}@127.0.0.1:${peer.port}` },
        { url: `redis://127.0.0.1:${peer.port}`, connection: { password: WRONG_PASSWORD } },
      ]) {
        const store = await RedisApprovalStore.connect({ ...options, logger });
        try {
          const error = await rejection(store.claim('approval:apr_echo', 'tok', 60_000));
          expect(error).toBeInstanceOf(ApprovalStoreUnavailableError);
          if (mode === 'eval') expect((error as Error).message).toMatch(/script refused for redis:\/\/.*@127\.0\.0\.1 \(password /);
          captureError(`echo ${mode} claim`, error);
          captureObject(`echo ${mode} store`, store, { getters: true });
        } finally {
          await store.close();
        }
      }
      if (mode === 'auth') expect(logger.lines.join('\n')).toMatch(/invalid password/);
      await peer.stop();
    }
  });

  it('a store made from your own client with a password hides it too', async () => {
    const client = new Redis({ host: '127.0.0.1', port: redis.port, password: PASSWORD, enableOfflineQueue: false, lazyConnect: true });
    await client.connect();
    const store = new RedisApprovalStore({ client, keyPrefix: 'own:' });
    try {
      await expect(store.claim('approval:apr_own', 'tok', 60_000)).resolves.toBe('claimed');
      captureObject('own store', store, { getters: true });
      captureObject('own store.client', store.client, { getters: true });
    } finally {
      await store.close();
      await client.quit();
    }
  });

  it('none of the captured text holds a secret', () => {
    for (const logger of loggers) captured.push(...logger.lines.map((l) => `[nest] ${l}`));
    expect(captured.length).toBeGreaterThan(100);
    // The capture works: the neighbours of the secrets are there. (Deep inspections are too big to join.)
    expect(captured.some((line) => line.includes('RedisApprovalStore'))).toBe(true);
    expect(captured.some((line) => line.includes('WRONGPASS'))).toBe(true);
    expect(captured.some((line) => line.includes('sesame:'))).toBe(true);
    for (const canary of CANARIES) {
      // Each hit as its label and the text around the secret (deep inspections are long).
      const hits = captured
        .filter((line) => line.includes(canary))
        .map((line) => `${line.slice(0, line.indexOf(']') + 1)} ...${line.slice(Math.max(0, line.indexOf(canary) - 300), line.indexOf(canary) + 100)}`);
      expect({ canary, hits }).toEqual({ canary, hits: [] });
    }
  });
});
