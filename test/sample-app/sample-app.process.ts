import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';

export interface SampleExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The sample running as a child process, as `npm run sample` runs it; its output is kept for assertions. */
export class SampleAppProcess {
  private stdoutText = '';
  private stderrText = '';
  private readonly watchers = new Set<() => void>();
  private closed = false;
  readonly exited: Promise<SampleExit>;

  private constructor(private readonly child: ChildProcessByStdio<null, Readable, Readable>) {
    child.stdout.on('data', (chunk: Buffer) => {
      this.stdoutText += chunk.toString();
      for (const watcher of [...this.watchers]) watcher();
    });
    child.stderr.on('data', (chunk: Buffer) => (this.stderrText += chunk.toString()));
    // 'close', not 'exit': by then every byte of stdout has arrived.
    this.exited = new Promise((resolve) =>
      child.once('close', (code, signal) => {
        this.closed = true;
        for (const watcher of [...this.watchers]) watcher();
        resolve({ code, signal });
      }),
    );
  }

  static start(main: string, env: Record<string, string>): SampleAppProcess {
    // Only what the sample needs: no SESAME_* from the developer's shell, so the embedded broker starts.
    const child = spawn(process.execPath, [main], { env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    return new SampleAppProcess(child);
  }

  get stdout(): string {
    return this.stdoutText;
  }

  get stderr(): string {
    return this.stderrText;
  }

  get running(): boolean {
    return !this.closed;
  }

  /** Resolves with the first match of `pattern` in stdout (now or once printed); rejects after `timeoutMs` or on exit. */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(this.stdoutText);
        if (match) return finish(() => resolve(match));
        if (!this.running) finish(() => reject(new Error(`The sample exited before printing ${pattern}:\n${this.stdoutText}\n${this.stderrText}`)));
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`The sample did not print ${pattern} within ${timeoutMs} ms:\n${this.stdoutText}\n${this.stderrText}`))),
        timeoutMs,
      );
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.watchers.delete(check);
        settle();
      };
      this.watchers.add(check);
      check();
    });
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** Ends the process whatever state it is in: SIGTERM, then SIGKILL if it is still there after `graceMs`. */
  async kill(graceMs = 3000): Promise<SampleExit> {
    if (this.running) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    return this.exited;
  }
}
