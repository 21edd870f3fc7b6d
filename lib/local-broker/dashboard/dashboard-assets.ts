import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The page's stylesheet and browser script, as the page inlines them. */
export interface DashboardAssets {
  css: string;
  script: string;
}

/** Where the build puts them (scripts/copy-assets.mjs), beside this module as in lib/. */
const ASSETS_FOLDER = 'assets';
const DASHBOARD_ASSET_FILES = Object.freeze({ css: 'dashboard.css', script: 'dashboard.browser.js' });

/** Reads the assets from the `assets` folder beside this module: lib/ under Jest, dist/esm or dist/cjs once built. */
export function readDashboardAssets(): DashboardAssets {
  const folder = join(dirname(thisModuleFile()), ASSETS_FOLDER);
  return {
    css: readFileSync(join(folder, DASHBOARD_ASSET_FILES.css), 'utf8'),
    script: readFileSync(join(folder, DASHBOARD_ASSET_FILES.script), 'utf8'),
  };
}

/**
 * This module's own path, in either build. The ESM build would say `import.meta.url` and the CJS one
 * `__filename`, but each fails to compile (or to run) in the other; V8 names the file of every stack
 * frame in both, so the first frame of a stack taken here is this file. Stack settings are borrowed
 * for the one call and put back, whatever an app or a tool installed.
 */
function thisModuleFile(): string {
  const { prepareStackTrace, stackTraceLimit } = Error;
  try {
    Error.prepareStackTrace = (_error, frames) => frames;
    Error.stackTraceLimit = 1;
    const frames = new Error().stack as unknown as NodeJS.CallSite[];
    const file = frames[0]?.getFileName();
    if (file === undefined || file === null) throw new Error('The dashboard cannot locate its assets: no file name in the stack');
    return file.startsWith('file:') ? fileURLToPath(file) : file;
  } finally {
    Error.prepareStackTrace = prepareStackTrace;
    Error.stackTraceLimit = stackTraceLimit;
  }
}
