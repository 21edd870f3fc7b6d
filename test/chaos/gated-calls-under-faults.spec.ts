import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Fault injection: thousands of concurrent gated calls (a real Nest app's provider method and route)
 * through a fault-injecting proxy in front of the local broker, with random decisions. The run happens
 * in its own process (test/chaos/chaos-run.ts) so that its unhandled-rejection counter and handle
 * table are the process's real ones; this suite judges the report it prints.
 *
 * `npm test` runs a short form (200 calls per scenario); `npm run test:chaos` the full one
 * (SESAME_CHAOS_CALLS=2000). SESAME_CHAOS_SEED replays a run.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));
const calls = Number(process.env.SESAME_CHAOS_CALLS ?? 200);

interface ScenarioReport {
  name: string;
  calls: number;
  approvals: Record<string, number>;
  ran: number;
  outcomes: Record<string, number>;
  violations: string[];
  leakedHandles: string[];
  logLinesWithKey: number;
  logLineCount: number;
}
interface ChaosReport {
  seed: number;
  calls: number;
  reports: ScenarioReport[];
  unhandledRejections: string[];
}

function runChaos(): Promise<{ report: ChaosReport; log: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', './test/support/ts-source.loader.mjs', 'test/chaos/chaos-run.ts'],
      { cwd: root, env: { ...process.env, NODE_OPTIONS: '', SESAME_CHAOS_CALLS: String(calls) }, maxBuffer: 64 * 1024 * 1024, timeout: 20 * 60_000 },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`chaos run failed: ${error.message}\n${stderr}`));
        resolve({ report: JSON.parse(stdout.trim().split('\n').at(-1)!) as ChaosReport, log: stderr });
      },
    );
  });
}

describe(`gated calls under injected faults (${calls} concurrent calls per scenario)`, () => {
  let report: ChaosReport;

  beforeAll(async () => {
    const run = await runChaos();
    report = run.report;
    console.info(run.log);
  }, 20 * 60_000);

  const scenario = (name: string) => report.reports.find((r) => r.name === name)!;

  it.each(['faults', 'restart', 'lost-state', 'shutdown'])('%s: every invariant held, nothing leaked', (name) => {
    const r = scenario(name);
    expect(r).toBeDefined();
    expect(r.violations).toEqual([]);
    expect(r.leakedHandles).toEqual([]);
    expect(r.logLinesWithKey).toBe(0);
    expect(r.calls).toBeGreaterThan(0);
  });

  it('the broker keeping its state, approved calls ran and the others were refused: the scenarios exercised both', () => {
    for (const name of ['faults', 'restart']) {
      const r = scenario(name);
      expect(r.calls).toBe(calls);
      expect(r.approvals.approved).toBeGreaterThan(0);
      expect(r.approvals.denied).toBeGreaterThan(0);
      expect(r.ran).toBeGreaterThan(0);
      expect(r.ran).toBeLessThanOrEqual(r.approvals.approved);
    }
  });

  it('a broker that lost its state ends the waiting calls typed (NotFoundError / HTTP 502), and they never run', () => {
    const r = scenario('lost-state');
    expect(r.calls).toBe(calls);
    expect((r.outcomes['method: NotFoundError'] ?? 0) + (r.outcomes['route: HTTP 502 approval_broker_error'] ?? 0)).toBeGreaterThan(0);
  });

  it('an app closing while calls wait ends them with ApprovalAborted and none runs', () => {
    const r = scenario('shutdown');
    expect(r.ran).toBe(0);
    expect(r.outcomes).toEqual({ 'method: ApprovalAborted': r.calls });
  });

  it('no unhandled rejection in the whole run', () => {
    expect(report.unhandledRejections).toEqual([]);
  });
});
