import { spawnSync } from 'node:child_process';
import { expect, it } from '@jest/globals';

/** The integrations are optional peers: an app that uses none of them must not load them (nor need them installed). */
const OPTIONAL = [
  '@nestjs/graphql',
  '@nestjs/apollo',
  '@nestjs/mercurius',
  'graphql',
  '@apollo/server',
  'mercurius',
  '@nestjs/microservices',
  '@nestjs/websockets',
  'socket.io',
  'ws',
  'ioredis',
  '@nestjs/swagger',
  'swagger-ui-dist',
  'axios',
  '@nestjs/axios',
  '@nestjs/terminus',
  '@opentelemetry/api',
  'bullmq',
  '@nestjs/bullmq',
];

it('importing the package loads no optional integration, and a serving REST app with a gated route imports none itself', () => {
  const child = spawnSync(
    process.execPath,
    ['--import', './test/support/ts-source.loader.mjs', '--import', './test/package/loaded-packages.mjs', 'test/package/optional-peers-app.ts'],
    {
      cwd: process.cwd(),
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  expect(child.stderr).not.toMatch(/Error/);
  expect(child.stdout).toContain('STATUS 201');
  const read = (label: string) => JSON.parse(new RegExp(`${label} (.*)`).exec(child.stdout)![1]) as string[];
  const imported = read('IMPORTED');
  // The check sees packages at all: Nest itself is among them.
  expect(imported).toEqual(expect.arrayContaining(['@nestjs/common', '@nestjs/core']));
  expect(imported.filter((name) => OPTIONAL.includes(name))).toEqual([]);
  const fromLib = read('FROM_LIB');
  expect(fromLib).toEqual(expect.arrayContaining(['@nestjs/common']));
  expect(fromLib.filter((name) => OPTIONAL.includes(name))).toEqual([]);
});
