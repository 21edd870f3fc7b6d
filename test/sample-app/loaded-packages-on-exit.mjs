/**
 * `NODE_OPTIONS="--import <this file>"` with LOADED_PACKAGES_FILE set: once the process has nothing
 * left to do (the sample stopped), writes every package it resolved (loaded-packages.mjs) to that
 * file as a JSON array.
 */
import { writeFileSync } from 'node:fs';
import '../package/loaded-packages.mjs';

process.once('beforeExit', async () => {
  const { all } = await globalThis.loadedPackages();
  writeFileSync(process.env.LOADED_PACKAGES_FILE, JSON.stringify(all));
});
