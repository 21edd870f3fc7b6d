import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { freePort } from '../free-port.js';

const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

/** The redis-server executable on `path` (a PATH value), or undefined when there is none. */
export function findRedisServer(path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'redis-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here: the next directory.
    }
  }
  return undefined;
}

/**
 * A redis-server the sample started for itself: loopback only, on a free port, nothing written to
 * disk. It lives as long as the sample: stop() ends it, and so does the sample's own exit.
 */
export class RedisServerProcess {
  private readonly killOnExit = () => this.child.kill('SIGKILL');

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    // A sample that exits without stopping it (an uncaught error, the forced exit) leaves no server behind.
    process.once('exit', this.killOnExit);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts `executable` and resolves once it accepts connections; a port taken meanwhile is retried on another. */
  static async start(executable: string): Promise<RedisServerProcess> {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort('127.0.0.1');
      try {
        return await RedisServerProcess.startOn(executable, port);
      } catch (error) {
        if (!(error instanceof PortTakenError) || attempt === 3) throw error;
      }
    }
  }

  private static startOn(executable: string, port: number): Promise<RedisServerProcess> {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'notice', '--logfile', ''];
    const child = spawn(executable, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`redis-server did not get ready within ${READY_TIMEOUT_MS} ms${lastLines(output)}`)), READY_TIMEOUT_MS);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (!output.includes('Ready to accept connections')) return;
        settle();
        // Keep draining its output, so a full pipe never blocks it.
        child.stdout!.resume();
        child.stderr!.resume();
        resolve(new RedisServerProcess(child, port));
      };
      const onExit = (code: number | null) =>
        fail(/Address already in use/.test(output) ? new PortTakenError() : new Error(`redis-server exited (code ${code}) before getting ready${lastLines(output)}`));
      const fail = (error: Error) => {
        settle();
        child.kill('SIGKILL');
        reject(error);
      };
      const settle = () => {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stderr!.off('data', onData);
        child.off('exit', onExit);
        child.off('error', fail);
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', onExit);
      child.once('error', fail);
    });
  }

  /** Shuts the server down (SIGTERM; SIGKILL if it is still there after 5 s) and resolves once it has exited. */
  async stop(): Promise<void> {
    process.off('exit', this.killOnExit);
    const { child } = this;
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }
}

class PortTakenError extends Error {}

function lastLines(output: string): string {
  const lines = output.trim().split('\n').slice(-5);
  return lines[0] ? `:\n${lines.join('\n')}` : '';
}
