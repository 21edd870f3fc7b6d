/**
 * The HTTP client's cost while waits are held: the many-waiters run (COUNT gated provider-method
 * calls pending at once in one Nest application context, the local broker in a child process), with
 * the client's default node:http exchange and with an axios instance as its `httpClient` (same
 * keep-alive agent settings, nothing else changed). Every run is a fresh process; the two alternate
 * (A B B A ...) so drift on a shared machine falls on both.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { benchArgs, progress, writeResult } from './support/bench-output.mjs';
import { median, round } from './support/stats.mjs';

const { runs, quick, out } = benchArgs({ runs: 4 });
const COUNT = quick ? 1000 : 10_000;
const runner = fileURLToPath(new URL('./support/many-waiters-run.mjs', import.meta.url));
const MODES = { default: 'gated', axios: 'gated-axios' };

function runOnce(mode) {
  const stdout = execFileSync(process.execPath, ['--expose-gc', runner, mode, String(COUNT)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
  const result = JSON.parse(stdout.trim().split('\n').at(-1));
  if (result.failed > 0) throw new Error(`${mode}: ${result.failed} of ${COUNT} calls failed, first: ${result.firstFailure}`);
  return result;
}

const rows = { default: [], axios: [] };
for (let run = 1; run <= runs; run++) {
  for (const client of run % 2 === 1 ? ['default', 'axios'] : ['axios', 'default']) {
    const r = runOnce(MODES[client]);
    rows[client].push(r);
    progress(
      `run ${run}/${runs} ${client.padEnd(7)}: +${round(r.growth.rssMiB, 1)} MiB RSS, +${round(r.growth.heapUsedMiB, 1)} MiB heap (${Math.round(r.bytesPerWaiter.heapUsed)} B/wait), ` +
        `${r.sockets.during} sockets, all held in ${Math.round(r.heldMs)} ms, all resumed ${Math.round(r.resolveAllMs)} ms after the decisions`,
    );
  }
}

function summary(list) {
  const pick = (f) => round(median(list.map(f)), 1);
  return {
    rssGrowthMiB: pick((r) => r.growth.rssMiB),
    heapGrowthMiB: pick((r) => r.growth.heapUsedMiB),
    rssBytesPerWaiter: Math.round(median(list.map((r) => r.bytesPerWaiter.rss))),
    heapBytesPerWaiter: Math.round(median(list.map((r) => r.bytesPerWaiter.heapUsed))),
    openSockets: median(list.map((r) => r.sockets.during)),
    resolveAllMs: pick((r) => r.resolveAllMs),
    allHeldMs: pick((r) => r.heldMs),
    perRun: list.map((r) => ({
      rssGrowthMiB: round(r.growth.rssMiB, 1),
      heapGrowthMiB: round(r.growth.heapUsedMiB, 1),
      resolveAllMs: round(r.resolveAllMs, 1),
      allHeldMs: round(r.heldMs, 1),
    })),
  };
}
const viaAxios = summary(rows.axios);
const viaDefault = summary(rows.default);

writeResult(out, {
  benchmark: 'http-client',
  title: `${COUNT.toLocaleString('en-US')} held waits: default client vs an axios httpClient`,
  description:
    `${COUNT} gated provider-method calls pending at once in one Nest application context (local broker in a child process), ` +
    "once with the client's default node:http exchange and once with `httpClient: axios.create({ httpAgent: new http.Agent({ keepAlive: true }) })`, runs alternating. " +
    'Growth is measured after forced GCs, from just before the calls to all of them held on the broker; "resumed" runs from the command to decide all of them to the last gated body starting.',
  runs,
  count: COUNT,
  value: { name: 'axios httpClient', ...viaAxios },
  baseline: { name: 'default (node:http)', ...viaDefault },
  ratio: {
    rssGrowth: round(viaAxios.rssGrowthMiB / viaDefault.rssGrowthMiB, 2),
    heapGrowth: round(viaAxios.heapGrowthMiB / viaDefault.heapGrowthMiB, 2),
    resolveAll: round(viaAxios.resolveAllMs / viaDefault.resolveAllMs, 2),
    allHeld: round(viaAxios.allHeldMs / viaDefault.allHeldMs, 2),
  },
});
