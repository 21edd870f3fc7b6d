import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChildAppHost } from './child-app-host.js';
import type { DeferredWorkerConfig, DeferredWorkerState, WorkerRunRecord } from './deferred-worker.child.js';

export type { DeferredWorkerConfig, WorkerJobData, WorkerRunRecord } from './deferred-worker.child.js';

const ENTRY = 'test/support/deferred-worker.child.ts';

/**
 * The test side of a deferred-jobs worker in a child process (deferred-worker.child.ts): spawned (it
 * loads its code, about 2 s of CPU, so tests spawn ahead), then its app started, and stopped gracefully
 * or killed with SIGKILL (as a crash or an OOM kill would).
 */
export class DeferredWorkerProcess {
  #killed = false;
  #url: string | undefined;

  private constructor(
    private readonly host: ChildAppHost<DeferredWorkerState>,
    readonly name: string,
  ) {}

  /** Resolves once the process has loaded its code; its app is not started. */
  static async spawn(config: DeferredWorkerConfig): Promise<DeferredWorkerProcess> {
    const host = await ChildAppHost.start<DeferredWorkerState>(`deferred worker ${config.name}`, ENTRY, [JSON.stringify(config)]);
    return new DeferredWorkerProcess(host, config.name);
  }

  /** Starts the app and resolves once it listens (its BullMQ worker is running). */
  async start(broker: { url: string; apiKey: string }): Promise<string> {
    this.#url = await this.host.startApp(broker.url, broker.apiKey);
    return this.#url;
  }

  get url(): string {
    if (this.#url === undefined) throw new Error(`worker ${this.name} not started`);
    return this.#url;
  }

  /** What the child printed (stdout and stderr). */
  get output(): string {
    return this.host.output;
  }

  state(): Promise<DeferredWorkerState> {
    return this.host.state();
  }

  /** SIGKILL: nothing of the app's shutdown runs (no worker close, no lock release). Resolves once the process is gone. */
  async kill(): Promise<void> {
    this.#killed = true;
    process.kill((await this.host.state()).pid, 'SIGKILL');
    await this.host.close();
  }

  /** Closes the app (its BullMQ worker waits for its active jobs), then the process; nothing once killed. */
  async stop(): Promise<void> {
    if (this.#killed) return;
    this.#killed = true;
    await this.host.stopApp().catch(() => undefined);
    await this.host.close();
  }
}

/** Every run record of every worker whose runs file is in `dir`. */
export function readRuns(dir: string): WorkerRunRecord[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.runs.jsonl'))
    .flatMap((file) =>
      readFileSync(join(dir, file), 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as WorkerRunRecord),
    );
}

/** How many times each job's body started, by job id. */
export function startsByJob(dir: string): Map<string, number> {
  const starts = new Map<string, number>();
  for (const run of readRuns(dir)) if (run.event === 'start') starts.set(run.id, (starts.get(run.id) ?? 0) + 1);
  return starts;
}

/** Lets a blocked run of job `id` (data.block) go on. */
export function releaseJob(releaseDir: string, id: string): void {
  if (!existsSync(join(releaseDir, id))) writeFileSync(join(releaseDir, id), '');
}

/** The runs file of worker `name` in `dir`. */
export const runsFileOf = (dir: string, name: string): string => join(dir, `${name}.runs.jsonl`);
