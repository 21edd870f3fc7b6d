import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { machine } from './stats.mjs';

/**
 * Common command line of every benchmark: `--runs N` (several runs, so a figure's spread shows),
 * `--quick` (tiny counts, to check the script works), `--out FILE` (JSON result; stdout when absent).
 */
export function benchArgs(defaults = {}) {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' },
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
    },
    allowPositionals: false,
  });
  const runs = Number(values.runs ?? (values.quick ? 1 : (defaults.runs ?? 3)));
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer (got ${values.runs})`);
  return { runs, quick: values.quick, out: values.out };
}

/** Writes one benchmark's result, stamped with the machine and time, as pretty JSON. */
export function writeResult(out, result) {
  const document = { ...result, machine: machine(), measuredAt: new Date().toISOString() };
  const text = `${JSON.stringify(document, null, 2)}\n`;
  if (!out) {
    process.stdout.write(text);
    return document;
  }
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, text);
  return document;
}

/** One progress line on stderr (stdout may carry the JSON). */
export function progress(message) {
  process.stderr.write(`  ${message}\n`);
}
