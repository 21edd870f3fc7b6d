// A private copy of the package sources to build and pack in, so packing never races with (or
// clobbers) the dist/ that other test runs and editors use in the working tree.
import { cpSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

const SKIPPED = new Set(['node_modules', '.git', 'dist', 'coverage', 'test-output', '.tmp']);

/** Copies the working tree (sources, not outputs) into `target` or a new temp dir, sharing node_modules by symlink. */
export function stagePackage(target = mkdtempSync(join(tmpdir(), 'nestjs-sesame-stage-'))) {
  cpSync(repoRoot, target, {
    recursive: true,
    filter: (source) => {
      const path = relative(repoRoot, source);
      return path === '' || (!SKIPPED.has(path.split(/[\\/]/)[0]) && !basename(source).endsWith('.tgz'));
    },
  });
  symlinkSync(join(repoRoot, 'node_modules'), join(target, 'node_modules'), 'dir');
  return target;
}
