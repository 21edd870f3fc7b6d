#!/usr/bin/env node
// `npm run check:package`: builds the package in a private copy of the sources, then checks what
// `npm pack` would publish with publint (strict), Are The Types Wrong (every resolution mode), the
// tarball file list and the deep-import scan. Exits non-zero on the first failing check.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { repoRoot, stagePackage } from './stage-package.mjs';

const started = performance.now();
const stage = stagePackage();
const bin = (name) => join(repoRoot, 'node_modules', '.bin', name);
const steps = [
  ['build', 'npm', ['run', '--silent', 'build']],
  ['publint', bin('publint'), ['--strict', stage]],
  ['attw', bin('attw'), ['--pack', stage]],
  ['packed files', process.execPath, [join(repoRoot, 'scripts/compat/check-packed-files.mjs'), stage]],
  ['deep imports', process.execPath, [join(repoRoot, 'scripts/compat/check-deep-imports.mjs'), join(stage, 'dist')]],
];

let failed;
try {
  for (const [name, command, args] of steps) {
    try {
      execFileSync(command, args, { cwd: stage, stdio: 'inherit' });
    } catch {
      failed = name;
      break;
    }
  }
} finally {
  rmSync(stage, { recursive: true, force: true });
}
if (failed) {
  console.error(`check:package: ${failed} failed`);
  process.exit(1);
}
console.log(`check:package: all checks passed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
