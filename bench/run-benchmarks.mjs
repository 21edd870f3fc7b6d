/**
 * `npm run bench [-- name ...] [-- --quick]`: builds the package (the npm script does), runs each
 * benchmark in its own process, writes bench/results/<name>.json and regenerates the results section
 * of BENCHMARKS.md. Figures never fail anything: only a benchmark that cannot run does.
 *
 *   npm run bench                      # every benchmark, default runs
 *   npm run bench -- webhook-verify    # one of them
 *   npm run bench -- --quick           # tiny counts: checks the scripts, figures meaningless (not written)
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BENCHMARKS, renderBenchmarks } from './support/render-benchmarks.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const names = args.filter((a) => !a.startsWith('--'));
for (const name of names) if (!BENCHMARKS.includes(name)) throw new Error(`unknown benchmark "${name}"; known: ${BENCHMARKS.join(', ')}`);
if (!existsSync(new URL('../dist/esm/index.js', import.meta.url))) throw new Error('dist/ is missing: run `npm run build` first (`npm run bench` does)');

const resultsDir = new URL('./results/', import.meta.url);
const started = Date.now();
for (const name of names.length > 0 ? names : BENCHMARKS) {
  const script = fileURLToPath(new URL(`./${name}.bench.mjs`, import.meta.url));
  const out = quick ? [] : ['--out', fileURLToPath(new URL(`${name}.json`, resultsDir))];
  process.stderr.write(`bench ${name}\n`);
  const t0 = Date.now();
  execFileSync(process.execPath, ['--expose-gc', script, ...(quick ? ['--quick'] : []), ...out], { stdio: ['ignore', quick ? 'ignore' : 'inherit', 'inherit'] });
  process.stderr.write(`bench ${name}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}
if (!quick) {
  renderBenchmarks(resultsDir, new URL('../BENCHMARKS.md', import.meta.url));
  process.stderr.write(`BENCHMARKS.md updated; total ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}
