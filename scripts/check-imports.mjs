/**
 * `npm run check:imports` (in `npm test`): the library's floor plan, checked over its import graph.
 * Each top-level part of lib/ sits on a floor; a file imports its own part or the floors below, never
 * a floor above and never a neighbour on its own floor (unless listed), and no import cycle exists.
 * docs/development.md shows the same floors.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const FLOORS = [
  ['protocol', 'errors.ts', 'version.ts', 'validation'], // the v1 wire and what every part shares
  ['client', 'webhooks', 'approval-store', 'local-broker', 'telemetry'], // speak the wire, sign and verify, keep state, trace
  ['config'], // the validated settings the Nest side reads
  ['approval-gate', 'nest-webhooks', 'health'], // the gate and the Nest adapters
  ['module'], // SesameModule wires them
  ['index.ts', 'testing', 'cli'], // the public entries
];
/** Neighbours on one floor that may import each other, one way. */
const SIDEWAYS = new Set(['errors.ts -> protocol', 'local-broker -> webhooks']);

const lib = fileURLToPath(new URL('../lib/', import.meta.url));
const floorOf = new Map(FLOORS.flatMap((parts, floor) => parts.map((part) => [part, floor])));
const partOf = (file) => relative(lib, file).split('/')[0];

const files = readdirSync(lib, { recursive: true })
  .filter((name) => name.endsWith('.ts'))
  .map((name) => join(lib, name));
const problems = [];
const graph = new Map();
for (const file of files) {
  const part = partOf(file);
  if (!floorOf.has(part)) problems.push(`${relative(lib, file)}: lib/${part} is on no floor (add it to FLOORS in scripts/check-imports.mjs)`);
  const targets = ts
    .preProcessFile(readFileSync(file, 'utf8'), true, true)
    .importedFiles.map(({ fileName }) => fileName)
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
  graph.set(file, targets);
  for (const target of targets) {
    const to = partOf(target);
    if (to === part || !floorOf.has(to)) continue;
    const arrow = `${part} -> ${to}`;
    if (floorOf.get(to) > floorOf.get(part)) problems.push(`${relative(lib, file)} imports ${relative(lib, target)}: ${arrow} runs up a floor`);
    else if (floorOf.get(to) === floorOf.get(part) && !SIDEWAYS.has(arrow))
      problems.push(`${relative(lib, file)} imports ${relative(lib, target)}: ${arrow} crosses to a neighbour on its floor`);
  }
}

// Cycles, file by file (depth-first; a back edge closes one).
const state = new Map();
const stack = [];
function visit(file) {
  state.set(file, 'open');
  stack.push(file);
  for (const target of graph.get(file) ?? []) {
    if (state.get(target) === 'open') problems.push(`import cycle: ${[...stack.slice(stack.indexOf(target)), target].map((f) => relative(lib, f)).join(' -> ')}`);
    else if (!state.has(target) && graph.has(target)) visit(target);
  }
  stack.pop();
  state.set(file, 'done');
}
for (const file of files) if (!state.has(file)) visit(file);

if (problems.length > 0) {
  console.error(`check:imports: ${problems.length} problem(s)\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`check:imports: ${files.length} files on ${FLOORS.length} floors, no arrow up or sideways, no cycle`);
