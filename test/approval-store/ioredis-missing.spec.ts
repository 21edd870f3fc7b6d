import { jest } from '@jest/globals';
import { RedisApprovalStore, SesameConfigError } from '../../lib/index.js';

// ioredis is installed in this repo; an app without it must get a clear error, not a stack trace from import().
jest.unstable_mockModule('ioredis', () => {
  throw Object.assign(new Error("Cannot find package 'ioredis'"), { code: 'ERR_MODULE_NOT_FOUND' });
});

it('store type redis without ioredis installed: a SesameConfigError that says what to install', async () => {
  const connecting = RedisApprovalStore.connect({ url: 'redis://127.0.0.1:6379' });
  await expect(connecting).rejects.toBeInstanceOf(SesameConfigError);
  await expect(connecting).rejects.toThrow('npm install ioredis');
});
