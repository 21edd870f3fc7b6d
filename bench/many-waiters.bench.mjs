/**
 * Benchmark 2: many waiters. 10,000 gated calls pending at once in one process (a Nest app's gated
 * provider method; the local broker runs in a child process so only the app's sockets count here):
 * memory growth (RSS, heap) and open sockets while they wait, then the time from the broker deciding
 * all of them until the last gated body started.
 * Baseline: 10,000 bare node:http long-polls against a bare node:http server in a child process.
 * Every run is a fresh process pair, so memory starts from the same place.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { benchArgs, progress, writeResult } from './support/bench-output.mjs';
import { median, round } from './support/stats.mjs';

const { runs, quick, out } = benchArgs({ runs: 3 });
const COUNT = quick ? 1000 : 10_000;
const runner = fileURLToPath(new URL('./support/many-waiters-run.mjs', import.meta.url));

function runOnce(mode) {
  const stdout = execFileSync(process.execPath, ['--expose-gc', runner, mode, String(COUNT)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
  const result = JSON.parse(stdout.trim().split('\n').at(-1));
  if (result.failed > 0) throw new Error(`${mode}: ${result.failed} of ${COUNT} calls failed, first: ${result.firstFailure}`);
  return result;
}

const rows = { gated: [], floor: [] };
for (let run = 1; run <= runs; run++) {
  for (const mode of run % 2 === 1 ? ['floor', 'gated'] : ['gated', 'floor']) {
    const r = runOnce(mode);
    rows[mode].push(r);
    progress(
      `run ${run}/${runs} ${mode.padEnd(5)}: +${round(r.growth.rssMiB, 1)} MiB RSS, +${round(r.growth.heapUsedMiB, 1)} MiB heap, ${r.sockets.during} sockets, ` +
        `all held in ${Math.round(r.heldMs)} ms, all resumed ${Math.round(r.resolveAllMs)} ms after the decisions`,
    );
  }
}

function summary(list) {
  const pick = (f) => round(median(list.map(f)), 1);
  return {
    rssGrowthMiB: pick((r) => r.growth.rssMiB),
    heapGrowthMiB: pick((r) => r.growth.heapUsedMiB),
    heapBytesPerWaiter: Math.round(median(list.map((r) => r.bytesPerWaiter.heapUsed))),
    openSockets: median(list.map((r) => r.sockets.during)),
    resolveAllMs: pick((r) => r.resolveAllMs),
    resolveAllMsMax: round(Math.max(...list.map((r) => r.resolveAllMs)), 1),
    brokerDecideMs: pick((r) => r.brokerDecideMs),
    allHeldMs: pick((r) => r.heldMs),
    perRun: list.map((r) => ({
      rssGrowthMiB: round(r.growth.rssMiB, 1),
      heapGrowthMiB: round(r.growth.heapUsedMiB, 1),
      openSockets: r.sockets.during,
      resolveAllMs: round(r.resolveAllMs, 1),
      allHeldMs: round(r.heldMs, 1),
    })),
  };
}
const gated = summary(rows.gated);
const floor = summary(rows.floor);

writeResult(out, {
  benchmark: 'many-waiters',
  title: `${COUNT.toLocaleString('en-US')} waiters in one process`,
  description:
    `${COUNT} gated provider-method calls pending at once in one Nest application context (local broker in a child process). ` +
    'Growth is measured after forced GCs, from just before the calls to all of them held on the broker. "Resolve all" runs from the command to decide all of them to the last gated body starting. ' +
    'Baseline: the same number of bare node:http long-polls against a bare node:http server in a child process.',
  targets: 'under 150 MB (143 MiB) RSS growth; all resolved within 2 s',
  runs,
  count: COUNT,
  value: gated,
  baseline: { name: 'bare node:http long-polls', ...floor },
  ratio: {
    rssGrowth: round(gated.rssGrowthMiB / floor.rssGrowthMiB, 2),
    heapGrowth: round(gated.heapGrowthMiB / floor.heapGrowthMiB, 2),
    resolveAll: round(gated.resolveAllMs / floor.resolveAllMs, 2),
  },
});
