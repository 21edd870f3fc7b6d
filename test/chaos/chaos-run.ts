/**
 * The fault-injection run, in a process of its own so that its counters are the real ones: every
 * unhandled rejection of the process, every handle it still holds after each app closed.
 *
 *   node --import ./test/support/ts-source.loader.mjs test/chaos/chaos-run.ts
 *
 * SESAME_CHAOS_CALLS (concurrent gated calls per scenario, default 200) and SESAME_CHAOS_SEED
 * (default: random, printed) shape the run. Prints readable counts on stderr and one JSON report
 * line on stdout; exits 0 either way (the Jest suite judges the report).
 */
import { setImmediate } from 'node:timers/promises';
import { CHAOS_API_KEY, faultsScenario, lostStateScenario, restartScenario, shutdownScenario, type ScenarioOptions, type ScenarioReport } from './chaos-scenarios.js';

const unhandled: string[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason)));

const calls = Number(process.env.SESAME_CHAOS_CALLS ?? 200);
const seed = Number(process.env.SESAME_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
if (!Number.isInteger(calls) || calls < 10) throw new Error(`SESAME_CHAOS_CALLS must be an integer >= 10 (got ${process.env.SESAME_CHAOS_CALLS})`);

function resources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const name of process.getActiveResourcesInfo()) counts.set(name, (counts.get(name) ?? 0) + 1);
  return counts;
}

/** Handles beyond the baseline; sockets take a few turns of the loop to finish closing, so look again until a bound. */
async function leftovers(baseline: Map<string, number>): Promise<string[]> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const extra = [...resources()].filter(([name, n]) => n > (baseline.get(name) ?? 0)).map(([name, n]) => `${n - (baseline.get(name) ?? 0)} x ${name}`);
    if (extra.length === 0 || Date.now() > deadline) return extra;
    await setImmediate();
  }
}

const baseline = resources();
const scenarios: [string, (options: ScenarioOptions) => Promise<ScenarioReport>][] = [
  ['faults', faultsScenario],
  ['restart', restartScenario],
  ['lost-state', lostStateScenario],
  ['shutdown', shutdownScenario],
];
const reports: (Omit<ScenarioReport, 'logLines'> & { leakedHandles: string[]; logLinesWithKey: number; logLineCount: number })[] = [];
process.stderr.write(`chaos: ${calls} concurrent gated calls per scenario, seed ${seed}\n`);
for (const [index, [name, run]] of scenarios.entries()) {
  const { logLines, ...report } = await run({ calls, seed: seed + index, routeShare: 0.2 });
  const leakedHandles = await leftovers(baseline);
  const logLinesWithKey = logLines.filter((line) => line.includes(CHAOS_API_KEY)).length;
  reports.push({ ...report, leakedHandles, logLinesWithKey, logLineCount: logLines.length });
  process.stderr.write(
    `chaos ${name}: ${report.calls} calls (${Object.entries(report.byVia)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ')}) in ${report.durationMs} ms; ` +
      `approvals ${JSON.stringify(report.approvals)}; bodies ran ${report.ran}; violations ${report.violations.length}; leaked handles ${leakedHandles.length}\n` +
      `  outcomes ${JSON.stringify(report.outcomes)}\n` +
      (Object.keys(report.faults).length > 0 ? `  injected ${JSON.stringify(report.faults)}\n` : '') +
      report.notes.map((note) => `  ${note}\n`).join('') +
      report.violations
        .slice(0, 10)
        .map((v) => `  VIOLATION ${v}\n`)
        .join(''),
  );
}
process.stderr.write(`chaos: unhandled rejections ${unhandled.length}\n`);
process.stdout.write(`${JSON.stringify({ seed, calls, reports, unhandledRejections: unhandled })}\n`);
