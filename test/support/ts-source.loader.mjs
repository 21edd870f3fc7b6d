/**
 * Lets a plain `node` process run this repo's TypeScript sources directly, compiled in memory by swc
 * with the same settings as Jest (legacy decorators, emitted metadata). For suites that need a
 * process of their own (real `process` events, a clean handle table, their own file descriptors):
 *
 *   node --import ./test/support/ts-source.loader.mjs test/chaos/chaos-run.ts
 *
 * NodeNext-style `./x.js` specifiers resolve to `./x.ts` when only the TypeScript file exists.
 */
import { register } from 'node:module';

register('./ts-source.loader-hooks.mjs', import.meta.url);
