// Copies the files tsc does not emit (every `assets/` folder under lib/, e.g. the dashboard's CSS and
// browser script) into each build, at the same path relative to the build as to lib/.
//   node scripts/copy-assets.mjs [build dir...]   (default: dist/esm dist/cjs)
import { cpSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const lib = join(root, 'lib');
const builds = process.argv.length > 2 ? process.argv.slice(2) : [join(root, 'dist', 'esm'), join(root, 'dist', 'cjs')];

const folders = readdirSync(lib, { recursive: true, withFileTypes: true })
  .filter((entry) => entry.isDirectory() && entry.name === 'assets')
  .map((entry) => relative(lib, join(entry.parentPath, entry.name)));
for (const build of builds) {
  for (const folder of folders) cpSync(join(lib, folder), join(build, folder), { recursive: true });
}
console.log(`copy-assets: ${folders.join(', ')} -> ${builds.map((build) => relative(root, build) || '.').join(', ')}`);
