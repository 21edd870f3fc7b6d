#!/usr/bin/env node
// Fails when the tarball `npm pack` would publish holds anything users do not need: only the two
// builds (JavaScript and declarations, plus the assets scripts/copy-assets.mjs adds), the CJS marker,
// the README, the protocol doc and the license.
// Source maps, build info, tests and stray files are refused.
//   node scripts/compat/check-packed-files.mjs [package dir]   (default: the repository)
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = process.argv[2] ?? fileURLToPath(new URL('../..', import.meta.url));
const ALLOWED = [
  /^package\.json$/,
  /^README\.md$/,
  /^LICENSE(?:\.md|\.txt)?$/,
  /^docs\/protocol\.md$/,
  /^dist\/(?:esm|cjs)\/(?:[a-z0-9-]+\/)*[a-z0-9.-]+\.(?:js|d\.ts)$/,
  /^dist\/cjs\/package\.json$/,
  /^dist\/(?:esm|cjs)\/local-broker\/dashboard\/assets\/dashboard\.(?:css|browser\.js)$/,
];
const DASHBOARD_ASSETS = ['dashboard.css', 'dashboard.browser.js'].flatMap((file) => ['esm', 'cjs'].map((build) => `dist/${build}/local-broker/dashboard/assets/${file}`));
const REQUIRED = [
  'package.json',
  'README.md',
  'dist/cjs/package.json',
  'dist/esm/index.js',
  'dist/cjs/index.js',
  'dist/esm/index.d.ts',
  'dist/cjs/index.d.ts',
  ...DASHBOARD_ASSETS,
];

const [pack] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
const files = pack.files.map((f) => f.path);
const unexpected = files.filter((path) => !ALLOWED.some((pattern) => pattern.test(path)) || /\.spec\.|\.test\.|\.map$|tsbuildinfo/.test(path));
const missing = REQUIRED.filter((path) => !files.includes(path));
const esm = new Set(files.filter((f) => f.startsWith('dist/esm/')).map((f) => f.slice('dist/esm/'.length)));
const cjs = new Set(files.filter((f) => f.startsWith('dist/cjs/') && f !== 'dist/cjs/package.json').map((f) => f.slice('dist/cjs/'.length)));
const unpaired = [...[...esm].filter((f) => !cjs.has(f)).map((f) => `dist/esm/${f}`), ...[...cjs].filter((f) => !esm.has(f)).map((f) => `dist/cjs/${f}`)];

const problems = [
  ...unexpected.map((path) => `not for users: ${path}`),
  ...missing.map((path) => `missing: ${path}`),
  ...unpaired.map((path) => `in one build only: ${path}`),
];
if (problems.length > 0) {
  console.error(`check-packed-files: ${pack.filename} is not clean:\n${problems.join('\n')}`);
  process.exit(1);
}
console.log(`check-packed-files: ${pack.filename}: ${files.length} files, ${(pack.size / 1024).toFixed(1)} kB packed, ${(pack.unpackedSize / 1024).toFixed(1)} kB unpacked`);
