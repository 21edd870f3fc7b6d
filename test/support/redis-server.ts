import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { freePort } from './free-port.js';

const READY_TIMEOUT_MS = 10_000;

export interface RedisServerOptions {
  /** Started with `--requirepass`: clients must authenticate (as the `default` user) with it. */
  requirePass?: string;
  /**
   * Persist into `dir` (an existing directory the caller owns and removes), so a server stopped and
   * started again comes back with its data. `aof` (default `everysec`): the append-only file, written
   * after every command and fsynced as said (a killed process loses nothing the OS got; a lost machine
   * loses up to a second with `everysec`); `false` for none. `save`: RDB save points (`'60 1'`), none unless told.
   */
  persistence?: { dir: string; aof?: 'always' | 'everysec' | false; save?: string };
}

/**
 * A real `redis-server` on a free loopback port, for tests; without persistence unless `persistence`
 * says. `stop()` then `start()` again brings it back on the same port (same password): empty, or with
 * what it persisted. For outage tests.
 */
export class RedisServer {
  private process: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly options: RedisServerOptions,
  ) {}

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), options);
    await server.start();
    return server;
  }

  /** Without credentials, even when the server requires a password. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.process !== undefined;
  }

  /** Starts (or restarts) the server and resolves once it answers PING. */
  async start(): Promise<void> {
    if (this.process) return;
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        ...persistenceArgs(this.options.persistence),
        '--loglevel',
        'notice',
        ...(this.options.requirePass === undefined ? [] : ['--requirepass', this.options.requirePass]),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.process = child;
    let output = '';
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => fail(new Error(`redis-server did not get ready within ${READY_TIMEOUT_MS} ms:\n${output}`)), READY_TIMEOUT_MS);
        const done = () => {
          clearTimeout(timer);
          child.stdout!.off('data', onData);
          child.off('error', fail);
          child.off('exit', onExit);
        };
        const fail = (error: Error) => {
          done();
          reject(error);
        };
        const onExit = (code: number | null) => fail(new Error(`redis-server exited (code ${code}) before getting ready:\n${output}`));
        const onData = (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('Ready to accept connections')) {
            done();
            resolve();
          }
        };
        child.stdout!.on('data', onData);
        child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.once('error', (error: NodeJS.ErrnoException) =>
          fail(error.code === 'ENOENT' ? new Error('redis-server is not installed (apt-get install redis-server; .ci/run installs it)') : error),
        );
        child.once('exit', onExit);
      });
      await ping(this.port, this.options.requirePass);
    } catch (error) {
      child.kill('SIGKILL');
      this.process = undefined;
      throw error;
    }
    // Keep draining its output so a full pipe never blocks it.
    child.stdout!.resume();
    child.stderr!.resume();
  }

  /** Kills the server (as a crash would) and resolves once it has exited. */
  async stop(): Promise<void> {
    const child = this.process;
    if (!child) return;
    this.process = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }
}

function persistenceArgs(persistence: RedisServerOptions['persistence']): string[] {
  if (persistence === undefined) return ['--save', '', '--appendonly', 'no'];
  const aof = persistence.aof ?? 'everysec';
  return [
    '--dir',
    persistence.dir,
    '--save',
    persistence.save ?? '',
    ...(aof === false ? ['--appendonly', 'no'] : ['--appendonly', 'yes', '--appendfsync', aof]),
    // As BullMQ requires: never evict its keys (nor the approval store's) under memory pressure.
    '--maxmemory-policy',
    'noeviction',
  ];
}

/** One PING over a raw socket (after AUTH when the server requires a password): the server answers `+PONG`. */
function ping(port: number, password?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    socket.setTimeout(READY_TIMEOUT_MS, () => socket.destroy(new Error('redis-server did not answer PING')));
    const auth = password === undefined ? '' : resp('AUTH', password);
    const expected = `${auth ? '+OK\r\n' : ''}+PONG\r\n`;
    socket.once('connect', () => socket.write(`${auth}PING\r\n`));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      // One reply line per command sent: judge once all of them are in.
      if (reply.split('\r\n').length - 1 >= (auth ? 2 : 1)) {
        socket.end();
        if (reply.startsWith(expected)) resolve();
        else reject(new Error(`redis-server answered ${auth ? 'AUTH and ' : ''}PING with ${JSON.stringify(reply)}`));
      }
    });
    socket.once('error', reject);
  });
}

/** A command in RESP (bulk strings), so a password with spaces or quotes goes through as is. */
function resp(...parts: string[]): string {
  return `*${parts.length}\r\n${parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join('')}`;
}

/** Resolves once an ioredis client is connected and ready again (bounded: fails instead of hanging). */
export function whenRedisReady(
  client: { status: string; on(event: 'ready', listener: () => void): unknown; off(event: 'ready', listener: () => void): unknown },
  timeoutMs = READY_TIMEOUT_MS,
): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onReady = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve();
    };
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(new Error(`Redis client not ready after ${timeoutMs} ms (status ${client.status})`));
    }, timeoutMs);
    client.on('ready', onReady);
  });
}
