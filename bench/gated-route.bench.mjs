/**
 * Benchmark 4: gated-route overhead under load. autocannon in this process; the Nest apps (Express)
 * and an auto-approving local broker each in their own process, all on loopback.
 *
 * - GET /gated/1 (@RequireApproval; the broker approves on creation, so one trigger round trip) vs
 *   GET /plain in the same app: what a gate costs per request.
 * - GET /plain in an app with SesameModule vs in an app without it: what the module costs an
 *   ungated route (its app-wide interceptor).
 */
import autocannon from 'autocannon';
import { benchArgs, progress, writeResult } from './support/bench-output.mjs';
import { forkHelper } from './support/child-process-rpc.mjs';
import { median, round } from './support/stats.mjs';

const { runs, quick, out } = benchArgs({ runs: 3 });
const DURATION_S = quick ? 1 : 5;
const WARMUP_S = quick ? 1 : 2;
const CONNECTIONS = 10;

function load(url, duration) {
  return autocannon({ url, connections: CONNECTIONS, duration, pipelining: 1 });
}

const broker = await forkHelper('./broker-process.mjs', ['local-auto-approve']);
const withSesame = await forkHelper('./route-server.mjs', ['with-sesame', broker.info.url, broker.info.apiKey]);
const withoutSesame = await forkHelper('./route-server.mjs', ['without-sesame', broker.info.url, broker.info.apiKey]);

const targets = {
  gated: `${withSesame.info.url}/gated/1`,
  'ungated, with SesameModule': `${withSesame.info.url}/plain`,
  'ungated, without SesameModule': `${withoutSesame.info.url}/plain`,
};

progress(`warm-up: ${WARMUP_S} s each`);
for (const url of Object.values(targets)) await load(url, WARMUP_S);

const measured = new Map(Object.keys(targets).map((name) => [name, []]));
for (let run = 1; run <= runs; run++) {
  const names = Object.keys(targets);
  const order = names.map((_, i) => names[(i + run) % names.length]);
  for (const name of order) {
    const result = await load(targets[name], DURATION_S);
    if (result.errors > 0 || result.non2xx > 0 || result.timeouts > 0) {
      throw new Error(`${name}: ${result.errors} errors, ${result.non2xx} non-2xx, ${result.timeouts} timeouts`);
    }
    measured.get(name).push({ rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, requests: result.requests.total });
    progress(`run ${run}/${runs} ${name.padEnd(30)} ${Math.round(result.requests.average)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`);
  }
}
const brokerStats = await broker.call('stats');
await withSesame.stop();
await withoutSesame.stop();
await broker.stop();

function summary(name) {
  const rows = measured.get(name);
  return {
    rps: Math.round(median(rows.map((r) => r.rps))),
    p50: median(rows.map((r) => r.p50)),
    p99: median(rows.map((r) => r.p99)),
    perRun: rows.map((r) => ({ rps: Math.round(r.rps), p50: r.p50, p99: r.p99 })),
  };
}
const gated = summary('gated');
const withModule = summary('ungated, with SesameModule');
const withoutModule = summary('ungated, without SesameModule');

writeResult(out, {
  benchmark: 'gated-route',
  title: 'Gated-route overhead (autocannon)',
  description:
    `autocannon, ${CONNECTIONS} connections, ${DURATION_S} s per run, from its own process; Nest on Express and an auto-approving local broker each in their own process (2 cores shared by all three). ` +
    'Latency figures are autocannon\'s per-run p50/p99 (ms, whole-millisecond resolution); the table shows the median over runs.',
  runs,
  approvalsCreatedOnBroker: brokerStats.total,
  cases: [
    { name: 'gated route (auto-approve) vs same app, ungated route', value: gated, baseline: { name: 'ungated route, same app', ...withModule }, ratio: { rps: round(gated.rps / withModule.rps, 2) } },
    { name: 'ungated route: app with SesameModule vs without', value: withModule, baseline: { name: 'app without SesameModule', ...withoutModule }, ratio: { rps: round(withModule.rps / withoutModule.rps, 2) } },
  ],
});
