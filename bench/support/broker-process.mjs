/**
 * A broker in its own process, driven over IPC, so the measuring process holds only its own sockets.
 *
 *   fork('bench/support/broker-process.mjs', ['local' | 'local-auto-approve' | 'floor'])
 *
 * Sends `{ ready: { url, apiKey, port } }`, then answers commands `{ id, cmd, ... }` with `{ id, ...result }`:
 * `held` (resolve once `count` waits are held), `approveAll` (decide every pending one now), `stop`.
 */
import { performance } from 'node:perf_hooks';
import { LocalBroker } from '../../dist/esm/testing/index.js';
import { LongPollFloorServer } from './long-poll-floor.mjs';

const mode = process.argv[2] ?? 'local';

async function startLocal(autoApprove) {
  // Auto-approve leaves `bench.held` pending: the call ungated-transports keeps waiting during a pair.
  const broker = await LocalBroker.start(autoApprove ? { decide: (approval) => (approval.action === 'bench.held' ? undefined : 'approve') } : {});
  return {
    info: { url: broker.url, apiKey: broker.apiKey, port: broker.port },
    held: (count) => broker.waitForHeldWaits(count, { timeoutMs: 120_000 }),
    async approveAll() {
      const pending = broker.list({ status: 'pending' });
      const start = performance.now();
      for (const approval of pending) await broker.approve(approval.id);
      return { decided: pending.length, decideMs: performance.now() - start };
    },
    stats: () => ({ pending: broker.pendingCount, waiting: broker.waitingCount, total: broker.list().length, rssMiB: process.memoryUsage().rss / 2 ** 20 }),
    stop: () => broker.stop(),
  };
}

async function startFloor() {
  const floor = await LongPollFloorServer.start();
  return {
    info: { url: `http://127.0.0.1:${floor.port}`, apiKey: 'none', port: floor.port },
    held: (count) => floor.waitForHeld(count),
    async approveAll() {
      const keys = [...floor.held.keys()];
      const start = performance.now();
      for (const key of keys) floor.decide(key);
      return { decided: keys.length, decideMs: performance.now() - start };
    },
    stats: () => ({ waiting: floor.held.size, rssMiB: process.memoryUsage().rss / 2 ** 20 }),
    stop: () => floor.stop(),
  };
}

const server = mode === 'floor' ? await startFloor() : await startLocal(mode === 'local-auto-approve');
process.on('message', async (message) => {
  const { id, cmd } = message;
  try {
    if (cmd === 'held') {
      await server.held(message.count);
      process.send({ id, ok: true });
    } else if (cmd === 'approveAll') {
      process.send({ id, ok: true, ...(await server.approveAll()) });
    } else if (cmd === 'stats') {
      process.send({ id, ok: true, ...server.stats() });
    } else if (cmd === 'stop') {
      await server.stop();
      process.send({ id, ok: true });
      process.disconnect();
    } else {
      process.send({ id, ok: false, error: `unknown command ${cmd}` });
    }
  } catch (error) {
    process.send({ id, ok: false, error: String(error?.message ?? error) });
  }
});
process.send({ ready: server.info });
