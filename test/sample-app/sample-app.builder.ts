import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

export interface BuiltSampleApp {
  /** The compiled entry point: `node <main>` is `npm run sample` minus the build. */
  main: string;
  remove(): void;
}

/**
 * Builds the sample as `npm run sample:build` does (tsc with the library's build config, then tsc with
 * sample-app/tsconfig.json), but into a private directory under .tmp/ laid out like an app that installed
 * the package: `npm run build` elsewhere in the suite wipes dist/, and must not pull files from under
 * the running sample. @nestjs/* still resolve to the repository's node_modules (one copy, as in the repo).
 */
export async function buildSampleApp(): Promise<BuiltSampleApp> {
  mkdirSync(join(ROOT, '.tmp'), { recursive: true });
  const dir = mkdtempSync(join(ROOT, '.tmp', 'sample-e2e-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    // Build output, not sources: keep `eslint .` away from it even if a crashed run leaves it behind.
    writeFileSync(join(dir, 'eslint.config.js'), "export default [{ ignores: ['**/*'] }];\n");
    const pkg = join(dir, 'node_modules', 'nestjs-sesame');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, 'package.json'), readFileSync(join(ROOT, 'package.json')));
    const app = join(dir, 'sample-app');
    cpSync(join(ROOT, 'sample-app', 'src'), join(app, 'src'), { recursive: true });
    writeFileSync(join(app, 'package.json'), '{ "private": true, "type": "module" }\n');
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({ extends: join(ROOT, 'sample-app', 'tsconfig.json'), compilerOptions: { rootDir: './src', outDir: './dist' }, include: ['./src'] }),
    );
    await run(process.execPath, [TSC, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist', 'esm'), '--sourceMap', 'false'], { cwd: ROOT });
    // The dashboard's CSS and browser script are files beside the compiled code, as `npm run build` copies them.
    await run(process.execPath, [join(ROOT, 'scripts/copy-assets.mjs'), join(pkg, 'dist', 'esm')], { cwd: ROOT });
    await run(process.execPath, [TSC, '-p', join(app, 'tsconfig.json')], { cwd: app });
    return { main: join(app, 'dist', 'main.js'), remove };
  } catch (error) {
    remove();
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`Building the sample app failed:\n${stdout ?? ''}${stderr ?? ''}`, { cause: error });
  }
}
