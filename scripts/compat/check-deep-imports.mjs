#!/usr/bin/env node
// Fails when the built output imports a path inside an @nestjs/* package: Nest 12 resolves package
// roots only (`@nestjs/common`, never `@nestjs/common/interfaces`). Covers import/export ... from,
// side-effect imports, require() and import() calls, including the import("...") types tsc
// writes into .d.ts files for types it cannot name.
//   node scripts/compat/check-deep-imports.mjs [dir]   (default: dist)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const target = process.argv[2] ?? fileURLToPath(new URL('../../dist', import.meta.url));
const SPECIFIER = /(?:\bfrom\s*|\brequire\(\s*|\bimport\(\s*|\bimport\s+)(['"])(@nestjs\/[a-z0-9-]+\/[^'"]*)\1/g;

function* codeFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* codeFiles(path);
    else if (/\.(?:c|m)?js$|\.d\.(?:c|m)?ts$/.test(entry.name)) yield path;
  }
}

if (!statSync(target, { throwIfNoEntry: false })?.isDirectory()) {
  console.error(`check-deep-imports: ${target} does not exist; run npm run build first`);
  process.exit(2);
}

const findings = [];
let scanned = 0;
for (const file of codeFiles(target)) {
  scanned += 1;
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, index) => {
      for (const match of line.matchAll(SPECIFIER)) findings.push(`${relative(target, file)}:${index + 1}: ${match[2]}`);
    });
}

if (findings.length > 0) {
  console.error(`check-deep-imports: ${findings.length} deep import(s) into @nestjs/* (import from the package root instead):\n${findings.join('\n')}`);
  process.exit(1);
}
console.log(`check-deep-imports: ${scanned} files, no deep @nestjs/* imports`);
