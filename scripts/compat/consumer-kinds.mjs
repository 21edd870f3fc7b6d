// The compatibility matrix: each entry is a consumer app as a team on that stack would set it up.
// Every consumer compiles the same sources (consumer-app/*.tpl) with its own toolchain and runs them
// with its own test runner; only the runner shim, the HTTP adapter and the configs differ.

const json = (value) => `${JSON.stringify(value, null, 2)}\n`;

const TYPESCRIPT = '~5.9.3';

/** The machine's own Node (20) unless a consumer names another major, which run-compat fetches (scripts/fetch-node.mjs). */
const typesNode = (node) => (node ? `^${node}` : '^20.19.0');
const onNode = (id, node) => (node ? `${id}-node${node}` : id);

const nestDeps = (major, adapter) => ({
  '@nestjs/common': `^${major}`,
  '@nestjs/core': `^${major}`,
  [`@nestjs/platform-${adapter}`]: `^${major}`,
  'reflect-metadata': '^0.2.2',
  rxjs: '^7.8.0',
});

const HTTP_ADAPTERS = {
  express: `import type { AbstractHttpAdapter } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';

export const createHttpAdapter = (): AbstractHttpAdapter => new ExpressAdapter();
`,
  fastify: `import type { AbstractHttpAdapter } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';

export const createHttpAdapter = (): AbstractHttpAdapter => new FastifyAdapter();
`,
};

const RUNNER_SHIMS = {
  jest: `export { afterAll, beforeAll, describe, it } from '@jest/globals';\n`,
  vitest: `export { afterAll, beforeAll, describe, it } from 'vitest';\n`,
  'node:test': `export { after as afterAll, before as beforeAll, describe, it } from 'node:test';\n`,
};

/** Reads how many tests passed from each runner's summary, so a suite that silently ran nothing fails. */
export const PASSED_TEST_COUNTERS = {
  jest: (output) => Number(/^Tests:.*?(\d+) passed/m.exec(output)?.[1] ?? 0),
  vitest: (output) => Number(/^\s*Tests\s+.*?(\d+) passed/m.exec(output)?.[1] ?? 0),
  // TAP (`# pass 4`) when Node 20 writes to a pipe; Node 24's default reporter is spec (`ℹ pass 4`) there too.
  'node:test': (output) => Number(/^(?:#|ℹ) pass (\d+)$/m.exec(output)?.[1] ?? 0),
};

const decoratorOptions = { experimentalDecorators: true, emitDecoratorMetadata: true };
// skipLibCheck off: the consumer's compiler checks the package's .d.ts files too.
const strictOptions = { strict: true, skipLibCheck: false, esModuleInterop: true, forceConsistentCasingInFileNames: true, types: ['node'] };

/**
 * Nest 11 on CommonJS with Jest + ts-jest, in the two tsconfig flavours Nest 11 apps have: the current
 * CLI starter's (module nodenext, CommonJS output, isolatedModules) and the older one many upgraded
 * apps keep (module commonjs, hence node10 resolution, which ignores `exports`).
 */
function nest11CommonJsJest(adapter, tsconfig) {
  const compilerOptions =
    tsconfig === 'nodenext'
      ? { module: 'nodenext', moduleResolution: 'nodenext', resolvePackageJsonExports: true, isolatedModules: true, target: 'ES2023' }
      : { module: 'commonjs', target: 'ES2021' };
  return {
    id: `nest11-cjs-jest-${adapter}`,
    nest: 11,
    moduleSystem: 'CommonJS',
    typescriptResolution: tsconfig,
    runtime: 'CommonJS',
    adapter,
    runner: 'jest',
    runnerLabel: 'Jest 30 + ts-jest',
    packageJson: {
      type: 'commonjs',
      scripts: { typecheck: 'tsc --noEmit -p tsconfig.json', test: 'jest' },
      dependencies: nestDeps(11, adapter),
      devDependencies: {
        '@nestjs/testing': '^11',
        '@jest/globals': '^30',
        '@types/node': '^20.19.0',
        jest: '^30',
        'ts-jest': '^29.4.0',
        typescript: TYPESCRIPT,
      },
    },
    files: {
      'tsconfig.json': json({ compilerOptions: { ...compilerOptions, outDir: 'dist', ...decoratorOptions, ...strictOptions }, include: ['src'] }),
      'jest.config.js': `/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  rootDir: 'src',
  testRegex: '\\\\.spec\\\\.ts$',
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: { '^(\\\\.{1,2}/.*)\\\\.js$': '$1' },
  transform: { '^.+\\\\.ts$': 'ts-jest' },
  testTimeout: 30000,
};
`,
    },
  };
}

/** Nest 12 as ESM (its packages are ESM-only), tests in Jest's native ESM mode compiled by swc; on this machine's Node or on `node` (a major). */
function nest12EsmJest(adapter, node) {
  return {
    id: onNode(`nest12-esm-jest-${adapter}`, node),
    nest: 12,
    node,
    moduleSystem: 'ESM',
    typescriptResolution: 'nodenext',
    runtime: 'ESM',
    adapter,
    runner: 'jest',
    runnerLabel: 'Jest 30 (native ESM) + @swc/jest',
    packageJson: {
      type: 'module',
      scripts: { typecheck: 'tsc --noEmit -p tsconfig.json', test: 'NODE_OPTIONS=--experimental-vm-modules jest' },
      dependencies: nestDeps(12, adapter),
      devDependencies: {
        '@nestjs/testing': '^12',
        '@jest/globals': '^30',
        '@swc/core': '^1.15.0',
        '@swc/jest': '^0.2.39',
        '@types/node': typesNode(node),
        jest: '^30',
        typescript: TYPESCRIPT,
      },
    },
    files: {
      'tsconfig.json': json({
        compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'ES2023', outDir: 'dist', ...decoratorOptions, ...strictOptions },
        include: ['src'],
      }),
      'jest.config.js': `/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  rootDir: 'src',
  testRegex: '\\\\.spec\\\\.ts$',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\\\.{1,2}/.*)\\\\.js$': '$1' },
  transform: {
    '^.+\\\\.ts$': [
      '@swc/jest',
      {
        jsc: {
          target: 'es2022',
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
        },
        module: { type: 'es6' },
      },
    ],
  },
  testTimeout: 30000,
};
`,
    },
  };
}

/**
 * Nest 12 from a CommonJS app: tsc emits require() calls, Node >= 20.19 loads the ESM-only Nest
 * packages through require(esm). Jest's CJS loader cannot do that, so the app tests with node:test.
 */
function nest12CommonJsNodeTest(adapter, node) {
  return {
    id: onNode(`nest12-cjs-node-test-${adapter}`, node),
    nest: 12,
    node,
    moduleSystem: 'CommonJS',
    typescriptResolution: 'nodenext',
    runtime: 'CommonJS via require(esm)',
    adapter,
    runner: 'node:test',
    runnerLabel: 'node:test on tsc output',
    packageJson: {
      type: 'commonjs',
      scripts: { typecheck: 'tsc -p tsconfig.json', test: 'node --test dist/compat.spec.js' },
      dependencies: nestDeps(12, adapter),
      devDependencies: { '@nestjs/testing': '^12', '@types/node': typesNode(node), typescript: TYPESCRIPT },
    },
    files: {
      'tsconfig.json': json({
        compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'ES2023', rootDir: 'src', outDir: 'dist', ...decoratorOptions, ...strictOptions },
        include: ['src'],
      }),
    },
  };
}

/** Nest 12 as ESM with Vitest 4 (Vitest 5 needs Node 22); swc restores the decorator metadata esbuild drops. */
function nest12EsmVitest(adapter) {
  return {
    id: `nest12-esm-vitest-${adapter}`,
    nest: 12,
    moduleSystem: 'ESM',
    typescriptResolution: 'nodenext',
    runtime: 'ESM',
    adapter,
    runner: 'vitest',
    runnerLabel: 'Vitest 4 + unplugin-swc',
    packageJson: {
      type: 'module',
      scripts: { typecheck: 'tsc --noEmit -p tsconfig.json', test: 'vitest run' },
      dependencies: nestDeps(12, adapter),
      devDependencies: {
        '@nestjs/testing': '^12',
        '@swc/core': '^1.15.0',
        '@types/node': '^20.19.0',
        typescript: TYPESCRIPT,
        'unplugin-swc': '^2',
        vitest: '^4',
      },
    },
    files: {
      'tsconfig.json': json({
        compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'ES2023', outDir: 'dist', ...decoratorOptions, ...strictOptions },
        include: ['src'],
      }),
      'vitest.config.ts': `import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [swc.vite({ module: { type: 'es6' } })],
  test: { include: ['src/**/*.spec.ts'], testTimeout: 30000 },
});
`,
    },
  };
}

/**
 * Each stack on Express; Nest 11 and Nest 12 also on Fastify; all on the machine's Node (20). Nest 12 ESM and
 * CommonJS (require(esm), which Node 22 has from 22.12) on Express also on Node 22 and 24.
 */
export const CONSUMER_KINDS = [
  nest11CommonJsJest('express', 'node10'),
  nest11CommonJsJest('fastify', 'nodenext'),
  nest12EsmJest('express'),
  nest12EsmJest('fastify'),
  nest12CommonJsNodeTest('express'),
  nest12EsmVitest('express'),
  ...[22, 24].flatMap((node) => [nest12EsmJest('express', node), nest12CommonJsNodeTest('express', node)]),
].map((kind) => ({
  ...kind,
  // As in the Nest starters: platform-express's .d.ts files import 'express', which ships no types.
  packageJson: kind.adapter === 'express' ? { ...kind.packageJson, devDependencies: { ...kind.packageJson.devDependencies, '@types/express': '^5' } } : kind.packageJson,
  files: {
    ...kind.files,
    'src/http-adapter.ts': HTTP_ADAPTERS[kind.adapter],
    'src/test-runner.ts': RUNNER_SHIMS[kind.runner],
  },
}));

/** Which installed packages to report per consumer (name -> label). */
export const REPORTED_PACKAGES = [
  '@nestjs/core',
  '@nestjs/common',
  '@nestjs/testing',
  '@nestjs/platform-express',
  '@nestjs/platform-fastify',
  'typescript',
  '@types/node',
  'jest',
  'ts-jest',
  '@swc/jest',
  'vitest',
  'fastify',
  'express',
];
