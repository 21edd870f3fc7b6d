/**
 * Benchmark 5: what SesameModule costs an ungated GraphQL resolver and an ungated WebSocket message
 * handler. The load generator runs in this process; each Nest app (Express) and an auto-approving
 * local broker in their own process, all on loopback, on this machine's Node.
 *
 * - GraphQL (Apollo, schema first): `{ plain }`, loaded with autocannon (POST /graphql).
 * - WebSocket (@nestjs/platform-ws): message `plain`, loaded by `ws` clients each sending a message and
 *   awaiting its answer in a loop (support/ws-load.mjs).
 *
 * Both apps of a transport have the same schema or gateway; the one with SesameModule also has a gated
 * handler (`gated`, @RequireApproval), which the other serves ungated (support/transport-apps.mjs).
 * Pairs: with SesameModule vs without; the same after one call of `gated` on each app (the first gated
 * call runs a scope in AsyncLocalStorage, which the process keeps enabled afterwards); A/A (two
 * identical apps without). Method of gated-route's ungated part: each round starts fresh processes,
 * alternates which starts first and which is warmed first, loads them A B B A (or B A A B), and the
 * figure is the median of the per-round ratios. `--runs N` sets the rounds (8 by default; `--quick`: 2,
 * with short loads).
 */
import { request } from 'node:http';
/* global AbortController, fetch */
import autocannon from 'autocannon';
import WebSocket from 'ws';
import { benchArgs, progress, writeResult } from './support/bench-output.mjs';
import { forkHelper } from './support/child-process-rpc.mjs';
import { median, round } from './support/stats.mjs';
import { wsLoad, wsRequest } from './support/ws-load.mjs';

const { runs, quick, out } = benchArgs({ runs: 8 });
const ROUNDS = quick ? 2 : runs;
// Six pairs per round, each starting two apps (about 1 s each): about 55 s per round in full, 25 s quick.
const LOAD_S = quick ? 0.25 : 1.25;
const WARMUP_S = quick ? 0.25 : 0.75;
const CONNECTIONS = 10;

const GRAPHQL_PLAIN = JSON.stringify({ query: '{ plain }' });
const GRAPHQL_PLAIN_ANSWER = '{"data":{"plain":"ok"}}\n';
const WS_PLAIN = { event: 'plain', data: null };
const WS_PLAIN_ANSWER = '{"event":"plain","data":"ok"}';

/** One POST on a connection of its own (no pool left open beside the load). */
function postJson(url, body) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const TRANSPORTS = [
  {
    name: 'graphql',
    label: 'GraphQL (Apollo on Express)',
    handler: '`{ plain }` (POST /graphql)',
    unit: 'req/s',
    loadDescription: `autocannon, ${CONNECTIONS} connections, pipelining 1, every answer checked against \`${GRAPHQL_PLAIN_ANSWER.trim()}\``,
    async load(url, durationS) {
      const result = await autocannon({
        url: `${url}/graphql`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: GRAPHQL_PLAIN,
        expectBody: GRAPHQL_PLAIN_ANSWER,
        connections: CONNECTIONS,
        duration: durationS,
        pipelining: 1,
      });
      if (result.errors > 0 || result.non2xx > 0 || result.timeouts > 0 || result.mismatches > 0) {
        throw new Error(`graphql ${url}: ${result.errors} errors, ${result.non2xx} non-2xx, ${result.timeouts} timeouts, ${result.mismatches} mismatched bodies`);
      }
      return { count: result.requests.total, seconds: result.duration };
    },
    /** One call of the `gated` mutation; returns its answer's data. */
    async gatedCall(url) {
      const { status, text } = await postJson(`${url}/graphql`, JSON.stringify({ query: 'mutation { gated(id: 1) }' }));
      const body = JSON.parse(text);
      if (status !== 200 || body.data?.gated !== 'gated 1') throw new Error(`graphql ${url}: gated mutation answered ${status} ${text}`);
      return body.data;
    },
    /** Starts a `held` mutation (it waits: for a human with SesameModule, on a timer without) and leaves it waiting. */
    async heldCall(url) {
      const controller = new AbortController();
      const answer = fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: 'mutation { held }' }),
        signal: controller.signal,
      }).catch(() => undefined);
      await sleep(HELD_SETTLE_MS);
      return async () => {
        controller.abort();
        await answer;
      };
    },
  },
  {
    name: 'ws',
    label: 'WebSocket (@nestjs/platform-ws)',
    handler: "`@SubscribeMessage('plain')`",
    unit: 'round trips/s',
    loadDescription: `${CONNECTIONS} \`ws\` clients in this process, each sending \`${JSON.stringify(WS_PLAIN)}\` and awaiting the answer (checked against \`${WS_PLAIN_ANSWER}\`) in a loop`,
    async load(url, durationS) {
      const result = await wsLoad(url.replace(/^http/, 'ws'), { clients: CONNECTIONS, durationS, message: WS_PLAIN, expected: WS_PLAIN_ANSWER });
      if (result.mismatches > 0) throw new Error(`ws ${url}: ${result.mismatches} mismatched answers, the first: ${result.first}`);
      return { count: result.roundTrips, seconds: result.seconds };
    },
    async gatedCall(url) {
      const text = await wsRequest(url.replace(/^http/, 'ws'), { event: 'gated', data: { id: 1 } });
      const answer = JSON.parse(text);
      if (answer.event !== 'gated' || answer.data?.ok !== true || answer.data.id !== 1) throw new Error(`ws ${url}: gated message answered ${text}`);
      return answer.data;
    },
    async heldCall(url) {
      const socket = new WebSocket(url.replace(/^http/, 'ws'));
      await new Promise((resolve, reject) => {
        socket.once('open', resolve);
        socket.once('error', reject);
      });
      socket.send(JSON.stringify({ event: 'held', data: {} }));
      await sleep(HELD_SETTLE_MS);
      return async () => socket.close();
    },
  },
];

const PAIRS = [
  { name: 'with SesameModule vs without', a: 'with-sesame', b: 'without-sesame' },
  { name: 'with SesameModule vs without, after one gated call', a: 'with-sesame', b: 'without-sesame', primed: true },
  { name: 'with SesameModule vs without, while one gated call waits', a: 'with-sesame', b: 'without-sesame', primed: true, held: true },
  { name: 'A/A: two identical apps without SesameModule', a: 'without-sesame', b: 'without-sesame' },
];
/** How long a held call is given to reach its wait (the broker, with SesameModule) before the loads start. */
const HELD_SETTLE_MS = 300;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const broker = await forkHelper('./broker-process.mjs', ['local-auto-approve']);

function startServer(transport, variant) {
  return forkHelper('./transport-server.mjs', [transport.name, variant, broker.info.url, broker.info.apiKey]);
}

async function brokerApprovals() {
  return (await broker.call('stats')).total;
}

/**
 * The gate is really in the app with SesameModule: its `gated` call goes through the broker (one
 * approval more), the app without it answers the same call with none.
 */
async function gateCheck(transport) {
  const seen = {};
  for (const variant of ['with-sesame', 'without-sesame']) {
    const server = await startServer(transport, variant);
    try {
      const before = await brokerApprovals();
      await transport.gatedCall(server.info.url);
      seen[variant] = (await brokerApprovals()) - before;
    } finally {
      await server.stop();
    }
  }
  if (seen['with-sesame'] !== 1 || seen['without-sesame'] !== 0)
    throw new Error(`${transport.name}: approvals per gated call ${JSON.stringify(seen)}, expected 1 with SesameModule, 0 without`);
  return { approvalsPerGatedCall: { withSesameModule: seen['with-sesame'], withoutSesameModule: seen['without-sesame'] } };
}

/** Loads `server` once; its rate and the share of one core its process used meanwhile. */
async function measure(transport, server, durationS) {
  const cpuBefore = (await server.call('cpu')).cpuMs;
  const { count, seconds } = await transport.load(server.info.url, durationS);
  const cpuMs = (await server.call('cpu')).cpuMs - cpuBefore;
  return { count, seconds, cpuMs };
}

/**
 * One round of one pair: fresh processes (after one `gated` call on each when the pair is primed), each
 * warmed, then loaded four times in the order A B B A or B A A B (drift during the round cancels out);
 * `roundIndex` alternates which starts first, which is warmed first and which order is used.
 */
async function abRound(transport, pair, roundIndex) {
  const first = roundIndex % 2 === 0 ? 'a' : 'b';
  const second = first === 'a' ? 'b' : 'a';
  const servers = {};
  const releases = [];
  try {
    for (const side of [first, second]) servers[side] = await startServer(transport, pair[side]);
    if (pair.primed) for (const side of [first, second]) await transport.gatedCall(servers[side].info.url);
    if (pair.held) for (const side of [first, second]) releases.push(await transport.heldCall(servers[side].info.url));
    const warmOrder = Math.floor(roundIndex / 2) % 2 === 0 ? [first, second] : [second, first];
    for (const side of warmOrder) await transport.load(servers[side].info.url, WARMUP_S);
    const totals = { a: { count: 0, seconds: 0, cpuMs: 0 }, b: { count: 0, seconds: 0, cpuMs: 0 } };
    for (const side of [warmOrder[1], warmOrder[0], warmOrder[0], warmOrder[1]]) {
      const result = await measure(transport, servers[side], LOAD_S);
      for (const key of ['count', 'seconds', 'cpuMs']) totals[side][key] += result[key];
    }
    const rate = (side) => totals[side].count / totals[side].seconds;
    const cpu = (side) => totals[side].cpuMs / (totals[side].seconds * 1000);
    return { ratio: rate('a') / rate('b'), rateA: rate('a'), rateB: rate('b'), cpuA: cpu('a'), cpuB: cpu('b') };
  } finally {
    for (const release of releases) await release();
    for (const server of Object.values(servers)) await server.stop();
  }
}

const started = Date.now();
const gateChecks = {};
for (const transport of TRANSPORTS) gateChecks[transport.name] = await gateCheck(transport);
progress(`gate check: one approval per gated call with SesameModule, none without (${TRANSPORTS.map((t) => t.name).join(', ')})`);

const combos = TRANSPORTS.flatMap((transport) => PAIRS.map((pair) => ({ transport, pair, key: `${transport.name}: ${pair.name}`, rounds: [] })));
progress(`${ROUNDS} rounds of ${combos.length} pairs, ${LOAD_S} s per load, ${WARMUP_S} s warm-up`);
for (let r = 0; r < ROUNDS; r++) {
  // Interleaved: every pair of every transport once per round, in a rotating order.
  for (let i = 0; i < combos.length; i++) {
    const combo = combos[(i + r) % combos.length];
    const result = await abRound(combo.transport, combo.pair, r);
    combo.rounds.push(result);
    progress(
      `round ${r + 1}/${ROUNDS} ${combo.key.padEnd(60)} ${round(result.ratio, 3)}x (${Math.round(result.rateA)} / ${Math.round(result.rateB)} ${combo.transport.unit}; app CPU ${round(result.cpuA, 2)} / ${round(result.cpuB, 2)})`,
    );
  }
}
await broker.stop();
progress(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);

writeResult(out, {
  benchmark: 'ungated-transports',
  title: 'Ungated GraphQL resolvers and WebSocket handlers, app with SesameModule vs without',
  description:
    `Nest on Express, each app in its own process, the load from this process, an auto-approving local broker in a third (2 cores shared by all). ${ROUNDS} rounds; ` +
    `each round starts both apps afresh (alternating which starts first), warms each ${WARMUP_S} s (alternating which first), then loads them ${LOAD_S} s at a time in the order A B B A or B A A B. ` +
    'Ratio = rate of the first app / the second over the round; the figure is the median of the per-round ratios, with their min and max. ' +
    'Both apps of a pair have the same schema or gateway; with SesameModule, its `gated` handler carries @RequireApproval, without, it is a plain handler. ' +
    '"After one gated call": each app answered one `gated` call before the warm-up (with SesameModule it went through the broker). ' +
    '"While one gated call waits": the same, then one `held` call is left waiting through the loads (with SesameModule for a human who never decides, without on a timer). ' +
    "App CPU: the loaded app's CPU time over its load time, in cores (V8's helper threads take it past 1; well under 1, the app waited: on the load generator or on other work on the machine).",
  target: 'an ungated resolver or socket message handler in an app with SesameModule serves >= 0.97x the requests of the same app without it',
  runs: ROUNDS,
  loadSeconds: LOAD_S,
  warmupSeconds: WARMUP_S,
  node: process.version,
  gateCheck: gateChecks,
  transports: TRANSPORTS.map((transport) => ({
    name: transport.name,
    label: transport.label,
    handler: transport.handler,
    load: transport.loadDescription,
    unit: transport.unit,
    pairs: combos
      .filter((combo) => combo.transport === transport)
      .map(({ pair, rounds }) => {
        const ratios = rounds.map((row) => row.ratio);
        return {
          name: pair.name,
          medianRatio: round(median(ratios), 3),
          minRatio: round(Math.min(...ratios), 3),
          maxRatio: round(Math.max(...ratios), 3),
          rateA: Math.round(median(rounds.map((row) => row.rateA))),
          rateB: Math.round(median(rounds.map((row) => row.rateB))),
          cpuA: round(median(rounds.map((row) => row.cpuA)), 2),
          cpuB: round(median(rounds.map((row) => row.cpuB)), 2),
          perRound: ratios.map((ratio) => round(ratio, 3)),
        };
      }),
  })),
});
