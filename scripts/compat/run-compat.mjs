#!/usr/bin/env node
// Compatibility matrix: builds and packs the library (in a private copy of the sources), installs the tarball into freshly generated
// consumer apps outside the repo (one per stack in consumer-kinds.mjs), and runs each app's own
// type-check and test suite, on this machine's Node or, for consumers that name another major, on that Node
// (fetched from the npm registry by scripts/fetch-node.mjs and put first on the consumer's PATH, so npm, the
// package's bin and the test runner all run on it). Prints a result table, writes test-output/compat.json,
// exits 1 on any failure.
//
//   npm run test:compat                 # the whole matrix
//   npm run test:compat -- nest11       # only consumers whose id contains "nest11"
//   COMPAT_CONCURRENCY=1 COMPAT_KEEP=1 npm run test:compat
import { execFileSync, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchNode } from '../fetch-node.mjs';
import { CONSUMER_KINDS, PASSED_TEST_COUNTERS, REPORTED_PACKAGES } from './consumer-kinds.mjs';
import { repoRoot as root, stagePackage } from './stage-package.mjs';

const templates = fileURLToPath(new URL('./consumer-app/', import.meta.url));
const reportFile = join(root, 'test-output', 'compat.json');
const specTemplate = readFileSync(join(templates, 'compat.spec.ts.tpl'), 'utf8');
const EXPECTED_TESTS = specTemplate.match(/^\s+it\(/gm).length;
const { name: packageName, version: packageVersion } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

const MINUTE = 60_000;
const PHASE_TIMEOUTS = { node: 30_000, install: 5 * MINUTE, cli: 30_000, typecheck: 2 * MINUTE, test: 3 * MINUTE };
const concurrency = Math.max(1, Number(process.env.COMPAT_CONCURRENCY) || Math.min(2, availableParallelism()));
const keepWorkDir = process.env.COMPAT_KEEP === '1';

/**
 * The caller's environment minus what would leak the outer npm run (prefix, config) or Node flags into consumers;
 * with `nodeBin`, that Node's directory first on PATH.
 */
function consumerEnv(nodeBin) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) || key === 'INIT_CWD' || key === 'NODE_OPTIONS') continue;
    env[key] = value;
  }
  if (nodeBin) env.PATH = [nodeBin, env.PATH].filter(Boolean).join(':');
  return { ...env, NO_COLOR: '1', FORCE_COLOR: '0', CI: 'true' };
}

/** The Node each consumer runs on: this process's own, or the fetched binary of the major it names. */
function resolveRuntimes(kinds) {
  const runtimes = new Map([[undefined, { bin: undefined, version: process.versions.node }]]);
  for (const { node } of kinds) {
    if (runtimes.has(node)) continue;
    const binary = fetchNode(node);
    runtimes.set(node, { bin: dirname(binary), version: execFileSync(binary, ['-p', 'process.versions.node']).toString().trim() });
  }
  return runtimes;
}

const running = new Set();

/** Runs a command in its own process group, appending its output to `log`; resolves with exit code, output and duration. */
function run(command, args, { cwd, log, timeoutMs, nodeBin }) {
  const started = performance.now();
  return new Promise((resolve) => {
    log.write(`\n$ ${command} ${args.join(' ')}   (in ${cwd}${nodeBin ? `, PATH=${nodeBin}:...` : ''})\n`);
    const child = spawn(command, args, { cwd, env: consumerEnv(nodeBin), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    const chunks = [];
    for (const stream of [child.stdout, child.stderr]) {
      stream.on('data', (chunk) => chunks.push(chunk));
      stream.pipe(log, { end: false });
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      log.write(`\n!! timed out after ${timeoutMs} ms: killing the process group\n`);
      killGroup(child);
    }, timeoutMs);
    let settled = false;
    const finish = (code) => {
      if (settled) return; // 'error' can be followed by 'close'
      settled = true;
      clearTimeout(timer);
      running.delete(child);
      resolve({ ok: code === 0 && !timedOut, code, timedOut, output: Buffer.concat(chunks).toString(), durationMs: Math.round(performance.now() - started) });
    };
    child.on('error', (error) => {
      log.write(`\n!! ${error.message}\n`);
      finish(-1);
    });
    child.on('close', (code) => finish(code));
  });
}

function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const child of running) killGroup(child);
    process.exit(130);
  });
}

function openLog(file) {
  mkdirSync(dirname(file), { recursive: true });
  return createWriteStream(file, { flags: 'a' });
}

function tail(file, lines) {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

function installedVersion(dir, name) {
  const file = join(dir, 'node_modules', name, 'package.json');
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')).version : undefined;
}

/** Writes one consumer app: package.json, configs, the shared sources, its adapter and runner shims. */
function scaffold(kind, dir, tarball) {
  const { dependencies, ...rest } = kind.packageJson;
  const packageJson = {
    name: `compat-${kind.id}`,
    version: '0.0.0',
    private: true,
    ...rest,
    dependencies: { ...dependencies, 'nestjs-sesame': `file:../${tarball}` },
  };
  const files = {
    'package.json': `${JSON.stringify(packageJson, null, 2)}\n`,
    'src/app.module.ts': readFileSync(join(templates, 'app.module.ts.tpl'), 'utf8'),
    'src/compat.spec.ts': specTemplate,
    ...kind.files,
  };
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
}

async function runConsumer(kind, work, tarball, runtime) {
  const dir = join(work, kind.id);
  const logFile = join(work, `${kind.id}.log`);
  const log = openLog(logFile);
  const durations = {};
  let failedPhase = null;
  let passedTests = 0;
  const started = performance.now();
  try {
    scaffold(kind, dir, tarball);
    // node: the Node that npm's scripts find on PATH is the consumer's (npm itself runs on it too).
    // cli: the package's bin, linked by npm, runs whatever the consumer's module system.
    const phases = [
      ['node', 'npm', ['exec', '--offline', '-c', 'node -p process.versions.node']],
      ['install', 'npm', ['install', '--prefer-offline', '--no-audit', '--no-fund']],
      ['cli', join(dir, 'node_modules', '.bin', 'nestjs-sesame'), ['--version']],
      ['typecheck', 'npm', ['run', 'typecheck']],
      ['test', 'npm', ['test']],
    ];
    for (const [phase, command, args] of phases) {
      const result = await run(command, args, { cwd: dir, log, timeoutMs: PHASE_TIMEOUTS[phase], nodeBin: runtime.bin });
      durations[phase] = result.durationMs;
      if (phase === 'node' && result.ok && result.output.trim() !== runtime.version) {
        failedPhase = `node (ran ${JSON.stringify(result.output.trim().slice(0, 80))}, expected ${runtime.version})`;
        break;
      }
      if (phase === 'cli' && result.ok && result.output.trim() !== packageVersion) {
        failedPhase = `cli (printed ${JSON.stringify(result.output.trim().slice(0, 80))}, expected ${packageVersion})`;
        break;
      }
      if (phase === 'test') passedTests = PASSED_TEST_COUNTERS[kind.runner](result.output);
      if (!result.ok) {
        failedPhase = result.timedOut ? `${phase} (timed out)` : phase;
        break;
      }
      if (phase === 'test' && passedTests !== EXPECTED_TESTS) {
        failedPhase = `test (${passedTests} of ${EXPECTED_TESTS} tests passed)`;
        log.write(`\n!! expected ${EXPECTED_TESTS} passing tests, the runner reported ${passedTests}\n`);
      }
    }
  } catch (error) {
    failedPhase = failedPhase ?? 'scaffold';
    log.write(`\n!! ${error instanceof Error ? error.stack : String(error)}\n`);
  } finally {
    await new Promise((resolve) => log.end(resolve));
  }
  const versions = Object.fromEntries(REPORTED_PACKAGES.map((name) => [name, installedVersion(dir, name)]).filter(([, v]) => v));
  return {
    id: kind.id,
    nest: versions['@nestjs/core'] ?? `${kind.nest}.x`,
    moduleSystem: kind.moduleSystem,
    typescriptResolution: kind.typescriptResolution,
    node: runtime.version,
    runtime: `Node ${runtime.version}, ${kind.runtime}`,
    adapter: kind.adapter,
    testRunner: kind.runnerLabel,
    result: failedPhase ? 'fail' : 'pass',
    failedPhase,
    tests: `${passedTests}/${EXPECTED_TESTS}`,
    durationMs: Math.round(performance.now() - started),
    phaseDurationsMs: durations,
    versions,
    log: logFile,
  };
}

/** Runs tasks with at most `limit` in flight, keeping their order in the results. */
async function pool(items, limit, task) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function formatTable(rows) {
  const header = ['consumer', 'Nest', 'runtime', 'TS resolution', 'adapter', 'test runner', 'tests', 'result', 'duration'];
  const body = rows.map((r) => [
    r.id,
    r.nest,
    r.runtime,
    r.typescriptResolution,
    r.adapter,
    r.testRunner,
    r.tests,
    r.result === 'pass' ? 'pass' : `FAIL (${r.failedPhase})`,
    `${(r.durationMs / 1000).toFixed(1)} s`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

async function main() {
  const filters = process.argv.slice(2);
  const kinds = CONSUMER_KINDS.filter((kind) => filters.length === 0 || filters.some((f) => kind.id.includes(f)));
  if (kinds.length === 0) {
    console.error(`compat: no consumer matches ${filters.join(', ')}; known: ${CONSUMER_KINDS.map((k) => k.id).join(', ')}`);
    process.exit(2);
  }

  const started = performance.now();
  const runtimes = resolveRuntimes(kinds);
  const work = mkdtempSync(join(tmpdir(), 'nestjs-sesame-compat-'));
  const packLog = openLog(join(work, 'pack.log'));
  console.log(`compat: building and packing into ${work}`);
  const stage = stagePackage(join(work, 'package-source'));
  const build = await run('npm', ['run', 'build'], { cwd: stage, log: packLog, timeoutMs: 2 * MINUTE });
  const pack = build.ok ? await run('npm', ['pack', '--pack-destination', work], { cwd: stage, log: packLog, timeoutMs: MINUTE }) : build;
  await new Promise((resolve) => packLog.end(resolve));
  rmSync(stage, { recursive: true, force: true });
  if (!pack.ok) {
    console.error(`compat: build or pack failed\n${tail(join(work, 'pack.log'), 40)}`);
    process.exit(1);
  }
  const tarball = `${packageName.replace(/^@/, '').replace('/', '-')}-${packageVersion}.tgz`;
  if (!existsSync(join(work, tarball))) throw new Error(`npm pack did not produce ${tarball}`);

  console.log(`compat: ${kinds.length} consumer(s), ${concurrency} at a time, on Node ${[...new Set(kinds.map((kind) => runtimes.get(kind.node).version))].join(', ')}`);
  const removals = [];
  const results = await pool(kinds, concurrency, async (kind) => {
    const result = await runConsumer(kind, work, tarball, runtimes.get(kind.node));
    console.log(`compat: ${result.result.padEnd(4)} ${kind.id} (${(result.durationMs / 1000).toFixed(1)} s)`);
    // A passing app is not needed any more: delete its node_modules while the others still run.
    if (result.result === 'pass' && !keepWorkDir) removals.push(rm(join(work, kind.id), { recursive: true, force: true }));
    return result;
  });
  await Promise.all(removals);
  const totalMs = Math.round(performance.now() - started);

  console.log(`\n${formatTable(results)}\n\ncompat: ${results.filter((r) => r.result === 'pass').length}/${results.length} passed in ${(totalMs / 1000).toFixed(1)} s`);
  mkdirSync(dirname(reportFile), { recursive: true });
  writeFileSync(
    reportFile,
    `${JSON.stringify({ package: `${packageName}@${packageVersion}`, node: process.versions.node, platform: `${process.platform}-${process.arch}`, finishedAt: new Date().toISOString(), concurrency, totalMs, consumers: results }, null, 2)}\n`,
  );
  console.log(`compat: report written to ${reportFile}`);

  const failed = results.filter((r) => r.result !== 'pass');
  for (const r of failed) console.error(`\n----- ${r.id}: failed in ${r.failedPhase}; last lines of ${r.log} -----\n${tail(r.log, 60)}`);
  if (failed.length > 0 || keepWorkDir) {
    console.log(`compat: consumer apps kept in ${work}`);
  } else {
    rmSync(work, { recursive: true, force: true });
  }
  process.exit(failed.length > 0 ? 1 : 0);
}

await main();
