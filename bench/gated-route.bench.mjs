/**
 * Benchmark 4: gated-route overhead under load. autocannon in this process; the Nest apps (Express)
 * and an auto-approving local broker each in their own process, all on loopback.
 *
 * - GET /gated/1 (@RequireApproval; the broker approves on creation, so one trigger round trip) vs
 *   GET /plain in the same app: what a gate costs per request.
 * - GET /plain in an app with SesameModule vs in an app without it: what the module costs an
 *   ungated route, on this Node and on Node 24 (scripts/fetch-node.mjs), by default and with
 *   `requestContext: 'all-routes'`. Two apps differ by a few percent by chance on 2 shared cores, so
 *   each round starts fresh processes, alternates which starts first and which is warmed first, loads
 *   them A B B A (or B A A B), and the figure is the median of the per-round ratios, beside an A/A run
 *   (two identical apps without it).
 */
import { execFileSync } from 'node:child_process';
import autocannon from 'autocannon';
import { fetchNode } from '../scripts/fetch-node.mjs';
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

// Ungated routes, A/B in fresh processes per round.
const ROUNDS = quick ? 2 : 12;
const AB_DURATION_S = quick ? 1 : 2;
const AB_WARMUP_S = quick ? 1 : 1.5;
const PAIRS = [
  { name: 'with SesameModule vs without', a: 'with-sesame', b: 'without-sesame' },
  { name: "with requestContext: 'all-routes' vs without", a: 'with-sesame-all-routes', b: 'without-sesame' },
  { name: 'A/A: two identical apps without SesameModule', a: 'without-sesame', b: 'without-sesame' },
];

async function startServer(variant, execPath) {
  return forkHelper('./route-server.mjs', [variant, broker.info.url, broker.info.apiKey], { execPath });
}

/**
 * One round of one pair: fresh processes, each warmed, then loaded four times in the order A B B A or
 * B A A B (drift during the round cancels out); `roundIndex` alternates which starts first, which is
 * warmed first and which order is used.
 */
async function abRound(pair, execPath, roundIndex) {
  const first = roundIndex % 2 === 0 ? 'a' : 'b';
  const second = first === 'a' ? 'b' : 'a';
  const servers = {};
  for (const side of [first, second]) servers[side] = await startServer(pair[side], execPath);
  try {
    const warmOrder = Math.floor(roundIndex / 2) % 2 === 0 ? [first, second] : [second, first];
    for (const side of warmOrder) await load(`${servers[side].info.url}/plain`, AB_WARMUP_S);
    const requests = { a: 0, b: 0 };
    for (const side of [warmOrder[1], warmOrder[0], warmOrder[0], warmOrder[1]]) {
      const result = await load(`${servers[side].info.url}/plain`, AB_DURATION_S);
      if (result.errors > 0 || result.non2xx > 0 || result.timeouts > 0) throw new Error(`${pair[side]}: ${result.errors} errors, ${result.non2xx} non-2xx`);
      requests[side] += result.requests.total;
    }
    const seconds = 2 * AB_DURATION_S;
    return { ratio: requests.a / requests.b, rpsA: requests.a / seconds, rpsB: requests.b / seconds };
  } finally {
    await servers.a.stop();
    await servers.b.stop();
  }
}

async function abSeries(execPath) {
  const rounds = new Map(PAIRS.map((pair) => [pair.name, []]));
  for (let r = 0; r < ROUNDS; r++) {
    // Interleaved: every pair once per round, in a rotating order.
    for (let i = 0; i < PAIRS.length; i++) {
      const pair = PAIRS[(i + r) % PAIRS.length];
      const result = await abRound(pair, execPath, r);
      rounds.get(pair.name).push(result);
      progress(`round ${r + 1}/${ROUNDS} ${pair.name.padEnd(46)} ${round(result.ratio, 3)}x (${Math.round(result.rpsA)} / ${Math.round(result.rpsB)} req/s)`);
    }
  }
  return PAIRS.map((pair) => {
    const rows = rounds.get(pair.name);
    const ratios = rows.map((row) => row.ratio);
    return {
      name: pair.name,
      medianRatio: round(median(ratios), 3),
      minRatio: round(Math.min(...ratios), 3),
      maxRatio: round(Math.max(...ratios), 3),
      rpsA: Math.round(median(rows.map((row) => row.rpsA))),
      rpsB: Math.round(median(rows.map((row) => row.rpsB))),
      perRound: ratios.map((ratio) => round(ratio, 3)),
    };
  });
}

// The machine's Node, then Node 24 from the npm registry (SESAME_BENCH_SKIP_NODE24=1 to skip it).
const execPaths = [process.execPath, ...(process.env.SESAME_BENCH_SKIP_NODE24 ? [] : [fetchNode(24)])];
const ungated = [];
for (const execPath of execPaths) {
  const node = execFileSync(execPath, ['--version'], { encoding: 'utf8' }).trim();
  progress(`ungated A/B on Node ${node}: ${ROUNDS} rounds, ${AB_DURATION_S} s per load`);
  ungated.push({ node, pairs: await abSeries(execPath) });
}
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
    "Latency figures are autocannon's per-run p50/p99 (ms, whole-millisecond resolution); the table shows the median over runs.",
  runs,
  approvalsCreatedOnBroker: brokerStats.total,
  ungated: {
    description:
      `GET /plain, ${ROUNDS} rounds; each round starts both apps afresh (alternating which starts first), warms each ${AB_WARMUP_S} s (alternating which first), ` +
      `then loads them ${AB_DURATION_S} s at a time in the order A B B A or B A A B. Ratio = requests of the first app / the second over the round; ` +
      'the figure is the median of the per-round ratios, with their min and max.',
    target: 'an ungated route in an app with SesameModule serves >= 0.97x the requests of the same app without it',
    runtimes: ungated,
  },
  cases: [
    {
      name: 'gated route (auto-approve) vs same app, ungated route',
      value: gated,
      baseline: { name: 'ungated route, same app', ...withModule },
      ratio: { rps: round(gated.rps / withModule.rps, 2) },
    },
    {
      name: 'ungated route: app with SesameModule vs without',
      value: withModule,
      baseline: { name: 'app without SesameModule', ...withoutModule },
      ratio: { rps: round(withModule.rps / withoutModule.rps, 2) },
    },
  ],
});
