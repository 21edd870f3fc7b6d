import http from 'node:http';
import { LocalBroker, type WireApproval } from '../../lib/testing/index.js';
import { FaultProxy, type FaultAction, type ProxiedRequest } from '../support/fault-proxy.js';
import { CapturingLogger } from '../support/nest-apps.js';
import { startChaosApp, type ChaosApp } from './chaos-app.js';
import { callIdOf, checkInvariants, RandomDecider, startCalls, tally, type CallOutcome } from './gated-call-harness.js';
import { SeededRandom } from '../support/seeded-random.js';

export interface ScenarioOptions {
  /** Concurrent gated calls. */
  calls: number;
  seed: number;
  /** Share of the calls made through the HTTP route (the rest call the provider method). */
  routeShare: number;
}

export interface ScenarioReport {
  name: string;
  calls: number;
  byVia: Record<string, number>;
  approvals: Record<string, number>;
  ran: number;
  outcomes: Record<string, number>;
  decisions: Record<string, number>;
  faults: Record<string, number>;
  notes: string[];
  violations: string[];
  durationMs: number;
  /** Every log line of the app, for the secrets check. */
  logLines: string[];
}

export const CHAOS_API_KEY = 'sk_live_CHAOS_canary_4f1d9a2c7e';
/** Generous retries with short backoff: the faults are bounded, so an approved call must get through. */
const CLIENT = {
  apiKey: CHAOS_API_KEY,
  // Long enough that an overloaded 2-core machine answering 2,000 calls is not mistaken for a fault.
  requestTimeout: 3_000,
  defaultTimeout: 120_000,
  retry: { retries: 20, minDelay: 10, maxDelay: 500, maxRetryAfter: 5_000 },
};
function orphanNote(count: number): string {
  return `${count} orphan approval(s): a trigger the client had given up on reached the broker after the call's approval expired (dedup covers unexpired approvals only); nothing ran for them`;
}

/** A bound on any scenario: past it, calls still unsettled are a violation (a hang), not a wait forever. */
const SETTLE_BOUND_MS = 180_000;

interface Rig {
  broker: LocalBroker;
  proxy: FaultProxy;
  app: ChaosApp;
  logger: CapturingLogger;
  agent: http.Agent;
  random: SeededRandom;
}

async function startRig(seed: number): Promise<Rig> {
  // Keeps every approval: the invariants are checked against broker.list() after the run.
  const broker = await LocalBroker.start({ apiKeys: [CHAOS_API_KEY], retention: { maxCount: Infinity, maxAgeMs: Infinity } });
  const proxy = await FaultProxy.start(broker.url);
  const logger = new CapturingLogger();
  const app = await startChaosApp({ ...CLIENT, baseUrl: proxy.url }, logger);
  return { broker, proxy, app, logger, agent: new http.Agent({ keepAlive: true }), random: new SeededRandom(seed) };
}

async function stopRig(rig: Rig, extraBrokers: LocalBroker[] = []): Promise<void> {
  rig.agent.destroy();
  await rig.app.app.close();
  await rig.proxy.stop();
  await rig.broker.stop();
  for (const broker of extraBrokers) await broker.stop();
}

/** Waits for every call, but never forever: calls still open after the bound are reported as hung. */
async function settle(calls: Promise<CallOutcome>[], violations: string[]): Promise<CallOutcome[]> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), SETTLE_BOUND_MS)));
  const settled: (CallOutcome | undefined)[] = new Array(calls.length);
  calls.forEach((call, i) => call.then((outcome) => (settled[i] = outcome)));
  const result = await Promise.race([Promise.all(calls), bound]);
  clearTimeout(timer);
  if (result === 'hung') {
    violations.push(`${settled.filter((o) => o === undefined).length} call(s) still unsettled after ${SETTLE_BOUND_MS} ms`);
    return settled.filter((o): o is CallOutcome => o !== undefined);
  }
  return result;
}

/** Resolves once `count` approvals were created on the broker (counted from now). */
function afterCreated(broker: LocalBroker, count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const onCreated = () => {
      if (++seen < count) return;
      broker.off('approval.created', onCreated);
      resolve();
    };
    broker.on('approval.created', onCreated);
  });
}

/** Resolves once `count` decisions were recorded on the broker (counted from now). */
function afterDecided(broker: LocalBroker, count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const onDecided = () => {
      if (++seen < count) return;
      broker.off('approval.decided', onDecided);
      resolve();
    };
    broker.on('approval.decided', onDecided);
  });
}

function report(
  name: string,
  rig: Rig,
  outcomes: CallOutcome[],
  approvals: WireApproval[],
  decider: RandomDecider | undefined,
  violations: string[],
  started: number,
  notes: string[] = [],
): ScenarioReport {
  return {
    name,
    calls: outcomes.length,
    byVia: tally(outcomes.map((o) => o.via)),
    approvals: tally(approvals.map((a) => a.status)),
    ran: [...rig.app.ledger.runs.values()].reduce((a, b) => a + b, 0),
    outcomes: tally(outcomes.map((o) => `${o.via}: ${o.label}`)),
    decisions: Object.fromEntries([...(decider?.decided ?? [])].sort()),
    faults: Object.fromEntries([...rig.proxy.counts].filter(([label]) => !label.endsWith(':pass')).sort()),
    notes,
    violations,
    durationMs: Date.now() - started,
    logLines: rig.logger.lines,
  };
}

/**
 * 5xx bursts, dropped connections (before the broker sees a request, and after it acted on it),
 * answers delayed past the client's request timeout, 429 with Retry-After (seconds and HTTP date),
 * long-polls cut mid-hold; random decisions. The broker keeps its state: every approved call runs once.
 */
export async function faultsScenario(options: ScenarioOptions): Promise<ScenarioReport> {
  const started = Date.now();
  const rig = await startRig(options.seed);
  const { random, proxy } = rig;
  // A 150 ms burst of 503s on every request, every 700 ms, while the calls run (read off the clock: no timer to leak).
  const burstEpoch = Date.now();
  const inBurst = () => (Date.now() - burstEpoch) % 700 >= 550;
  proxy.plan = (request: ProxiedRequest): FaultAction => {
    if (inBurst()) return { kind: 'status', status: 503 };
    const retryAfter = random.next() < 0.5 ? '1' : new Date(Date.now() + 1_000).toUTCString();
    if (request.kind === 'wait') {
      return random.pick<FaultAction>([
        [0.05, { kind: 'status', status: 503 }],
        [0.02, { kind: 'status', status: 429, headers: { 'retry-after': retryAfter } }],
        [0.03, { kind: 'drop-request' }],
        [0.06, { kind: 'drop-after', ms: random.int(0, 400) }],
        [0.02, { kind: 'drop-response' }],
        [0.82, { kind: 'pass' }],
      ]);
    }
    return random.pick<FaultAction>([
      [0.06, { kind: 'status', status: 503 }],
      [0.03, { kind: 'status', status: 502, headers: { 'content-type': 'text/html' }, body: '<html><body>502 Bad Gateway</body></html>' }],
      [0.03, { kind: 'status', status: 429, headers: { 'retry-after': retryAfter } }],
      [0.03, { kind: 'drop-request' }],
      [0.04, { kind: 'drop-response' }],
      [0.03, { kind: 'delay-response', ms: CLIENT.requestTimeout + 300 }],
      [0.78, { kind: 'pass' }],
    ]);
  };

  const decider = new RandomDecider(random, 1_500);
  decider.attach(rig.broker);
  const violations: string[] = [];
  const outcomes = await settle(startCalls(rig.app, 'faults', options.calls, options.routeShare, random, rig.agent), violations);
  decider.stop();
  const approvals = rig.broker.list();
  const checked = checkInvariants({ outcomes, runs: rig.app.ledger.runs, approvals, stateKept: true, allowedFailures: [] });
  violations.push(...checked.violations);
  const result = report('faults', rig, outcomes, approvals, decider, violations, started, [
    orphanNote(checked.orphanApprovals),
    `${Math.floor((Date.now() - burstEpoch) / 700)} burst(s) of 150 ms answering 503 to every request`,
  ]);
  await stopRig(rig);
  return result;
}

/**
 * The broker restarts twice while approvals are pending, keeping its state: every connection is cut
 * and refused for 400 ms (once halfway through the creations, once halfway through the decisions);
 * decisions go on meanwhile.
 */
export async function restartScenario(options: ScenarioOptions): Promise<ScenarioReport> {
  const started = Date.now();
  const rig = await startRig(options.seed);
  const decider = new RandomDecider(rig.random, 2_000);
  decider.attach(rig.broker);
  const notes: string[] = [];
  const restart = async (when: string) => {
    const held = rig.broker.waitingCount;
    await rig.proxy.goDown();
    await new Promise((resolve) => setTimeout(resolve, 400));
    await rig.proxy.comeUp();
    notes.push(`restart ${when}: ${held} long-poll(s) were held, ${rig.broker.pendingCount} approval(s) pending`);
  };
  const firstRestart = afterCreated(rig.broker, Math.ceil(options.calls / 2)).then(() => restart('halfway through creations'));
  const secondRestart = afterDecided(rig.broker, Math.ceil(options.calls / 2)).then(() => restart('halfway through decisions'));

  const violations: string[] = [];
  const outcomes = await settle(startCalls(rig.app, 'restart', options.calls, options.routeShare, rig.random, rig.agent), violations);
  await Promise.all([firstRestart, secondRestart]);
  decider.stop();
  const approvals = rig.broker.list();
  const checked = checkInvariants({ outcomes, runs: rig.app.ledger.runs, approvals, stateKept: true, allowedFailures: [] });
  violations.push(...checked.violations);
  const result = report('restart', rig, outcomes, approvals, decider, violations, started, [...notes, orphanNote(checked.orphanApprovals)]);
  await stopRig(rig);
  return result;
}

/**
 * The broker loses its state a third of the way through the decisions: it is replaced by a fresh
 * one that answers 404 for every id it never saw. Calls still waiting must end typed (NotFoundError,
 * HTTP 502) and never run; calls approved before the loss ran once.
 */
export async function lostStateScenario(options: ScenarioOptions): Promise<ScenarioReport> {
  const started = Date.now();
  const rig = await startRig(options.seed);
  const fresh = await LocalBroker.start({ apiKeys: [CHAOS_API_KEY], retention: { maxCount: Infinity, maxAgeMs: Infinity } });
  const decider = new RandomDecider(rig.random, 1_200);
  decider.attach(rig.broker);
  decider.attach(fresh);
  let before: WireApproval[] = [];
  const notes: string[] = [];
  const loss = afterDecided(rig.broker, Math.ceil(options.calls / 3)).then(async () => {
    before = rig.broker.list();
    notes.push(`state lost with ${rig.broker.pendingCount} approval(s) pending and ${rig.broker.waitingCount} long-poll(s) held`);
    rig.proxy.switchUpstream(fresh.url);
    await rig.broker.stop();
  });

  const violations: string[] = [];
  const outcomes = await settle(startCalls(rig.app, 'lost', options.calls, options.routeShare, rig.random, rig.agent), violations);
  await loss;
  decider.stop();
  const approvals = [...before, ...fresh.list()];
  violations.push(
    ...checkInvariants({
      outcomes,
      runs: rig.app.ledger.runs,
      approvals,
      stateKept: false,
      allowedFailures: ['NotFoundError', 'HTTP 502 approval_broker_error'],
    }).violations,
  );
  const result = report('lost-state', rig, outcomes, approvals, decider, violations, started, notes);
  await stopRig(rig, [fresh]);
  return result;
}

/**
 * The app shuts down while gated provider calls wait (no decision ever comes): app.close() must
 * finish promptly, every call must end typed without running.
 */
export async function shutdownScenario(options: ScenarioOptions): Promise<ScenarioReport> {
  const started = Date.now();
  const rig = await startRig(options.seed);
  const count = Math.max(10, Math.ceil(options.calls / 4));
  const violations: string[] = [];
  // Provider calls only: a gated route still waiting holds app.close() until its timeout (reported; the module closes its client after the HTTP server).
  const calls = startCalls(rig.app, 'shutdown', count, 0, rig.random, rig.agent);
  await rig.broker.waitForHeldWaits(count, { timeoutMs: 60_000 });
  const closing = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([
    rig.app.app.close().then(() => 'closed' as const),
    new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), 10_000))),
  ]);
  clearTimeout(timer);
  const closeMs = Date.now() - closing;
  if (closed === 'hung') violations.push(`app.close() did not finish within 10 s while ${count} gated calls waited`);
  const outcomes = await settle(calls, violations);
  const approvals = rig.broker.list();
  violations.push(...checkInvariants({ outcomes, runs: rig.app.ledger.runs, approvals, stateKept: false, allowedFailures: ['ApprovalAborted'] }).violations);
  for (const approval of approvals) if (approval.status !== 'pending') violations.push(`${callIdOf(approval)}: decided (${approval.status}) though nobody decided it`);
  const result = report('shutdown', rig, outcomes, approvals, undefined, violations, started, [`app.close() took ${closeMs} ms with ${count} calls waiting`]);
  rig.agent.destroy();
  await rig.proxy.stop();
  await rig.broker.stop();
  return result;
}
