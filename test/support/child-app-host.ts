import { spawn, type ChildProcess } from 'node:child_process';

/**
 * Apps that must run in a Node process of their own (Mercurius: Jest on Node 20 cannot load its
 * ESM-only dependencies), asked over IPC. The test side is `ChildAppHost`; the fixture file run as the
 * child's entry calls `serveChildApps` with what starts, reads and stops one app at a time.
 */
export type ChildAppRequest = { id: number; op: 'start'; brokerUrl: string; apiKey: string } | { id: number; op: 'state' } | { id: number; op: 'stop' };
export type ChildAppReply = { id: number; ok: true; value?: unknown } | { id: number; ok: false; error: string };

/** One app at a time: `start` answers its URL; `state` and `stop` what the test reads of it. */
export interface ChildApps<State> {
  start(brokerUrl: string, apiKey: string): Promise<string>;
  state(): State;
  stop(): Promise<State>;
}

/** The test side: spawns `entry` (a TypeScript fixture) with `args`, and asks it to start, read and stop apps. */
export class ChildAppHost<State> {
  /** Everything the child printed (checked for secrets by the suites). */
  output = '';
  private next = 1;
  private readonly waiting = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    label: string,
  ) {
    child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.on('message', (reply: ChildAppReply) => {
      const waiter = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      if (reply.ok) waiter?.resolve(reply.value);
      else waiter?.reject(new Error(reply.error));
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        for (const waiter of this.waiting.values()) waiter.reject(new Error(`${label} exited (${code}): ${this.output}`));
        this.waiting.clear();
        resolve();
      }),
    );
  }

  /** Resolves once the child said it is ready. `label` names it in errors. */
  static async start<State>(label: string, entry: string, args: string[] = []): Promise<ChildAppHost<State>> {
    const child = spawn(process.execPath, ['--import', './test/support/ts-source.loader.mjs', entry, ...args], {
      cwd: process.cwd(),
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const host = new ChildAppHost<State>(child, label);
    await new Promise((resolve, reject) => host.waiting.set(0, { resolve, reject }));
    return host;
  }

  private ask<T>(request: ChildAppRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send({ ...request, id });
    });
  }

  startApp(brokerUrl: string, apiKey: string): Promise<string> {
    return this.ask({ op: 'start', brokerUrl, apiKey });
  }
  state(): Promise<State> {
    return this.ask({ op: 'state' });
  }
  stopApp(): Promise<State> {
    return this.ask({ op: 'stop' });
  }
  async close(): Promise<void> {
    if (this.child.connected) this.child.disconnect();
    await this.exited;
  }
}

/** The child side: answers the host's requests with `apps`, and stops the app when the host goes away. */
export function serveChildApps<State>(apps: ChildApps<State>): void {
  const handle = async (request: ChildAppRequest): Promise<unknown> => {
    switch (request.op) {
      case 'start':
        return apps.start(request.brokerUrl, request.apiKey);
      case 'state':
        return apps.state();
      case 'stop':
        return apps.stop();
    }
  };
  process.on('message', (request: ChildAppRequest) => {
    handle(request).then(
      (value) => process.send!({ id: request.id, ok: true, value } satisfies ChildAppReply),
      (error: unknown) => process.send!({ id: request.id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies ChildAppReply),
    );
  });
  process.on('disconnect', () => void apps.stop().catch(() => undefined));
  process.send!({ id: 0, ok: true, value: 'ready' } satisfies ChildAppReply);
}
