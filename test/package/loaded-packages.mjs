/**
 * `node --import ./test/package/loaded-packages.mjs app.ts`: records every package the process
 * resolves (on Node's loader thread) and exposes them as `globalThis.loadedPackages()`:
 * `{ all, fromLib }` (fromLib: imported by a lib/ file itself).
 */
import { register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';

const { port1, port2 } = new MessageChannel();
const all = new Set();
const fromLib = new Set();
port1.on('message', ({ name, fromLib: ours }) => {
  all.add(name);
  if (ours) fromLib.add(name);
});
port1.unref();
register('./loaded-packages.hooks.mjs', import.meta.url, { data: { port: port2 }, transferList: [port2] });
/** Messages from the loader thread arrive asynchronously: wait a turn before reading. */
globalThis.loadedPackages = async () => {
  await new Promise((resolve) => setTimeout(resolve, 50));
  return { all: [...all].sort(), fromLib: [...fromLib].sort() };
};
