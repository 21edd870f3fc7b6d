/**
 * Benchmark 1: decision-to-resume latency. Time from the broker recording a decision to the gated
 * method's body starting, with 1, 100 and 1,000 approvals pending at once (the local broker and a
 * Nest app in one process, on loopback, so both instants are read from one clock).
 * Baseline: a bare node:http long-poll answered on an event, same loopback, same process. Both sides
 * are timed from the decision being taken (answer built and written included) to the waiting code
 * running. The gated method runs after an `await`, as any promise-based API's caller does, so the
 * floor is the awaiting caller of the bare long-poll resuming; the instant the bare client's own
 * `'end'` callback runs (before Node finishes the response and before any promise settles) is
 * reported too, as the lowest bound no promise-returning client can reach.
 *
 * Each sample decides one random pending call, waits for its body to start, then starts a
 * replacement call so the number pending stays put. Both sides hold their N calls at once and take
 * their samples in turn, so both are measured under the same conditions.
 */
import { performance } from 'node:perf_hooks';
import { LocalBroker } from '../dist/esm/testing/index.js';
import { benchArgs, progress, writeResult } from './support/bench-output.mjs';
import { createGatedContext } from './support/gated-nest-app.mjs';
import { LongPollFloorClient, LongPollFloorServer } from './support/long-poll-floor.mjs';
import { median, round, summarize } from './support/stats.mjs';

const { runs, quick, out } = benchArgs({ runs: 5 });
const PENDING = [1, 100, 1000];
const SAMPLES = quick ? 30 : 400;
const WARMUP = quick ? 20 : 300;

/** The gated path: trigger + long-poll through SesameClient, ApprovalGate, the method wrapper. */
async function gatedHarness() {
  const broker = await LocalBroker.start();
  const { app, gated, log } = await createGatedContext(broker);
  const approvalIdOf = new Map();
  // The gate's dedup keys carry a keyed binding; the summary names the call.
  broker.on('approval.created', (approval) => approvalIdOf.set(approval.summary.slice('Benchmark call '.length), approval.id));
  const calls = new Map();
  let seq = 0;
  return {
    name: 'gated',
    start() {
      const key = `call_${seq++}`;
      calls.set(key, gated.resume(key));
      return key;
    },
    held: (count) => broker.waitForHeldWaits(count, { timeoutMs: 60_000 }),
    async decide(key) {
      const resumed = log.whenStarted(key);
      const t0 = performance.now();
      await broker.approve(approvalIdOf.get(key));
      const t1 = await resumed;
      await calls.get(key);
      calls.delete(key);
      approvalIdOf.delete(key);
      return t1 - t0;
    },
    async stop() {
      for (const key of [...calls.keys()]) await this.decide(key);
      await app.close();
      await broker.stop();
    },
  };
}

/** The floor: the same dance with nothing but node:http on both ends. */
async function floorHarness(callback) {
  const server = await LongPollFloorServer.start();
  const resumed = new Map();
  const client = new LongPollFloorClient(server.port, (key, at) => resumed.get(key)?.(at));
  const calls = new Map();
  let seq = 0;
  return {
    name: 'floor',
    start() {
      const key = `poll_${seq++}`;
      calls.set(key, client.wait(key));
      return key;
    },
    held: (count) => server.waitForHeld(count),
    async decide(key) {
      const inCallback = new Promise((resolve) => resumed.set(key, resolve));
      const t0 = server.decide(key);
      await calls.get(key);
      const t1 = performance.now();
      const tCallback = await inCallback;
      calls.delete(key);
      resumed.delete(key);
      callback.latencies.push(tCallback - t0);
      return t1 - t0;
    },
    async stop() {
      for (const key of [...calls.keys()]) await this.decide(key);
      client.close();
      await server.stop();
    },
  };
}

/** Brings the harness to exactly `pending` held calls. */
async function settle(harness, pending, live) {
  while (live.length > pending) await harness.decide(live.splice(Math.floor(Math.random() * live.length), 1)[0]);
  while (live.length < pending) live.push(harness.start());
  await harness.held(pending);
}

/** Decides one random held call, returns its latency, and starts a replacement so `pending` stays put. */
async function sample(harness, pending, live) {
  const [key] = live.splice(Math.floor(Math.random() * live.length), 1);
  const latency = await harness.decide(key);
  live.push(harness.start());
  await harness.held(pending);
  return latency;
}

/** The floor's `'end'`-callback latencies, in the order taken. */
const floorCallback = { latencies: [] };
const harnesses = [await floorHarness(floorCallback), await gatedHarness()];
const live = new Map(harnesses.map((h) => [h.name, []]));
progress(`warm-up: ${WARMUP} decisions each`);
for (const harness of harnesses) {
  await settle(harness, 1, live.get(harness.name));
  for (let i = 0; i < WARMUP; i++) await sample(harness, 1, live.get(harness.name));
}

const samples = new Map(); // `${name}:${pending}` -> { runs: [summary], all: [] }
function record(key, latencies) {
  const entry = samples.get(key) ?? { runs: [], all: [] };
  entry.runs.push(summarize(latencies));
  entry.all.push(...latencies);
  samples.set(key, entry);
  return entry;
}
for (let run = 1; run <= runs; run++) {
  for (const pending of PENDING) {
    for (const harness of harnesses) await settle(harness, pending, live.get(harness.name));
    // Samples alternate between the two sides (first one, then the other), so a machine that slows
    // down or speeds up mid-run (a shared VM does) weighs on both alike.
    const latencies = new Map(harnesses.map((h) => [h.name, []]));
    floorCallback.latencies = [];
    for (let i = 0; i < SAMPLES; i++) {
      for (const harness of i % 2 === 0 ? harnesses : [...harnesses].reverse()) {
        latencies.get(harness.name).push(await sample(harness, pending, live.get(harness.name)));
      }
    }
    record(`floor-callback:${pending}`, floorCallback.latencies);
    for (const harness of harnesses) {
      const s = record(`${harness.name}:${pending}`, latencies.get(harness.name)).runs.at(-1);
      progress(`run ${run}/${runs} ${harness.name.padEnd(5)} pending=${String(pending).padStart(4)}: median ${round(s.median)} ms, p99 ${round(s.p99)} ms`);
    }
  }
}
for (const harness of harnesses) await harness.stop();

const cases = PENDING.map((pending) => {
  const gated = samples.get(`gated:${pending}`);
  const floor = samples.get(`floor:${pending}`);
  const g = summarize(gated.all);
  const f = summarize(floor.all);
  const fc = summarize(samples.get(`floor-callback:${pending}`).all);
  return {
    name: `decision to resume, ${pending} pending`,
    pending,
    unit: 'ms',
    samplesPerRun: SAMPLES,
    value: { median: round(g.median, 4), p99: round(g.p99, 4), max: round(g.max, 3) },
    perRun: gated.runs.map((r) => ({ median: round(r.median, 4), p99: round(r.p99, 4) })),
    baseline: {
      name: 'bare node:http long-poll, awaiting caller resumed',
      median: round(f.median, 4),
      p99: round(f.p99, 4),
      perRun: floor.runs.map((r) => ({ median: round(r.median, 4), p99: round(r.p99, 4) })),
    },
    ratio: { median: round(g.median / f.median, 2), p99: round(g.p99 / f.p99, 2) },
    callbackFloor: { name: "bare node:http long-poll, inside its 'end' callback", median: round(fc.median, 4), p99: round(fc.p99, 4) },
    ratioToCallbackFloor: { median: round(g.median / fc.median, 2), p99: round(g.p99 / fc.p99, 2) },
    runMedianSpread: {
      min: round(Math.min(...gated.runs.map((r) => r.median)), 4),
      max: round(Math.max(...gated.runs.map((r) => r.median)), 4),
      medianOfRuns: round(median(gated.runs.map((r) => r.median)), 4),
    },
  };
});

writeResult(out, {
  benchmark: 'decision-latency',
  title: 'Decision-to-resume latency',
  description:
    'Time from the decision being taken (answer built and written included) to the gated provider method starting (SesameClient long-poll, ApprovalGate, method wrapper), with N approvals pending at once. ' +
    'Both sides hold their N calls at the same time in one process and take their samples in turn, so a machine that changes speed mid-run weighs on both alike. ' +
    "Floor: a bare node:http long-poll on the same loopback, same process, timed to its awaiting caller resuming (the gated method, like any promise-based API's caller, runs after an await); " +
    "the bare client's own 'end' callback, which runs before Node finishes the response and before any promise can settle, is shown as the callback bound.",
  targets: 'p50 within 1.5x of the floor; p99 under 10 ms at 1,000 pending',
  runs,
  cases,
});
