/**
 * One run of benchmark 2, in a fresh process (so memory figures start clean), started with --expose-gc:
 *
 *   node --expose-gc bench/support/many-waiters-run.mjs gated|gated-axios|floor COUNT
 *
 * `gated-axios`: the same app with an axios instance as the client's httpClient (http-client.bench.mjs).
 *
 * Holds COUNT waits against a broker in a child process, measures memory and sockets, has the broker
 * decide them all, and measures the time until every waiter resumed. Prints one JSON line.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate } from 'node:timers/promises';
import { forkHelper } from './child-process-rpc.mjs';
import { createGatedContext } from './gated-nest-app.mjs';
import { LongPollFloorClient } from './long-poll-floor.mjs';

const [mode, countArg] = process.argv.slice(2);
const count = Number(countArg);
if (!['gated', 'gated-axios', 'floor'].includes(mode) || !Number.isInteger(count) || count < 1) {
  throw new Error('usage: many-waiters-run.mjs gated|gated-axios|floor COUNT');
}
if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');

/** A plain axios instance with a keep-alive agent of its own, as the default client has: only the HTTP client differs. */
async function axiosClient() {
  const [{ default: axios }, { default: http }] = await Promise.all([import('axios'), import('node:http')]);
  const agent = new http.Agent({ keepAlive: true });
  return { httpClient: axios.create({ httpAgent: agent }), agent };
}

async function settledMemory() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await setImmediate();
  }
  const { rss, heapUsed, external } = process.memoryUsage();
  return { rss, heapUsed, external };
}

function openSockets() {
  return process.getActiveResourcesInfo().filter((name) => name === 'TCPSocketWrap').length;
}

const server = await forkHelper('./broker-process.mjs', [mode === 'floor' ? 'floor' : 'local']);
let resumed = 0;
let allResumed;
const everyoneResumed = new Promise((resolve) => (allResumed = resolve));
const onResume = () => {
  if (++resumed === count) allResumed(performance.now());
};

let start;
let close;
if (mode !== 'floor') {
  const broker = { url: server.info.url, apiKey: server.info.apiKey };
  const viaAxios = mode === 'gated-axios' ? await axiosClient() : undefined;
  const { app, gated, log } = await createGatedContext(broker, viaAxios ? { httpClient: viaAxios.httpClient } : {});
  log.started = onResume;
  // Warm the code paths (and the JIT) so the baseline is not taken before anything was ever loaded.
  for (let i = 0; i < 50; i++) gated.resume(`warm_${i}`);
  await server.call('held', { count: 50 });
  await server.call('approveAll');
  while (resumed < 50) await setImmediate();
  resumed = 0;
  start = (key) => gated.resume(key);
  // The instance's agent is the app's to close, not the client's.
  close = () => app.close().then(() => viaAxios?.agent.destroy());
} else {
  const client = new LongPollFloorClient(server.info.port, onResume);
  for (let i = 0; i < 50; i++) client.wait(`warm_${i}`);
  await server.call('held', { count: 50 });
  await server.call('approveAll');
  while (resumed < 50) await setImmediate();
  resumed = 0;
  start = (key) => client.wait(key);
  close = () => client.close();
}

const before = await settledMemory();
const socketsBefore = openSockets();
const triggerStart = performance.now();
const calls = [];
for (let i = 0; i < count; i++) calls.push(start(`call_${i}`));
await server.call('held', { count });
const heldMs = performance.now() - triggerStart;
const during = await settledMemory();
const socketsDuring = openSockets();

const decideStart = performance.now();
const decided = await server.call('approveAll');
const lastResume = await everyoneResumed;
const outcomes = await Promise.allSettled(calls);
const failed = outcomes.filter((o) => o.status === 'rejected');

await close();
await server.stop();
process.stdout.write(
  `${JSON.stringify({
    mode,
    count,
    heldMs,
    resolveAllMs: lastResume - decideStart,
    brokerDecideMs: decided.decideMs,
    growth: {
      rssMiB: (during.rss - before.rss) / 2 ** 20,
      heapUsedMiB: (during.heapUsed - before.heapUsed) / 2 ** 20,
      externalMiB: (during.external - before.external) / 2 ** 20,
    },
    bytesPerWaiter: { rss: (during.rss - before.rss) / count, heapUsed: (during.heapUsed - before.heapUsed) / count },
    sockets: { before: socketsBefore, during: socketsDuring },
    failed: failed.length,
    firstFailure: failed[0] ? String(failed[0].reason?.message ?? failed[0].reason) : null,
  })}\n`,
);
