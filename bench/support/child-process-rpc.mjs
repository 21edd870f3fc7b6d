import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Forks one of the bench's helper processes and talks to it by request/answer over IPC.
 * `ready` resolves with what the child announces first; `call(cmd, args)` with its answer.
 * `execPath` runs it on another Node binary (scripts/fetch-node.mjs).
 */
export async function forkHelper(relativePath, args = [], { execArgv = [], execPath = process.execPath } = {}) {
  const child = fork(fileURLToPath(new URL(relativePath, import.meta.url)), args, { execArgv, execPath, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  // A benchmark that fails must not leave its helpers running (they hold its stdout open).
  const killOnExit = () => child.kill();
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  const waiting = new Map();
  let seq = 0;
  const ready = new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${relativePath} exited with ${code} before it was ready`)));
    child.on('message', (message) => {
      if (message.ready) return resolve(message.ready);
      const pending = waiting.get(message.id);
      if (!pending) return;
      waiting.delete(message.id);
      if (message.ok) pending.resolve(message);
      else pending.reject(new Error(message.error));
    });
  });
  child.on('exit', (code) => {
    for (const { reject } of waiting.values()) reject(new Error(`${relativePath} exited with ${code}`));
    waiting.clear();
  });
  const info = await ready;
  return {
    child,
    info,
    call(cmd, extra = {}) {
      const id = ++seq;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        child.send({ id, cmd, ...extra });
      });
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await this.call('stop').catch(() => undefined);
      await exited;
    },
  };
}

/**
 * The child's side of forkHelper(): answers each `{ id, cmd }` with `commands[cmd](message)`'s result
 * (or its error), then announces `ready`.
 */
export function serveCommands(commands, ready) {
  process.on('message', async (message) => {
    const { id, cmd } = message;
    try {
      const run = commands[cmd];
      if (!run) throw new Error(`unknown command ${cmd}`);
      process.send({ id, ok: true, ...(await run(message)) });
    } catch (error) {
      process.send({ id, ok: false, error: String(error?.stack ?? error?.message ?? error) });
    }
  });
  process.send({ ready });
}
