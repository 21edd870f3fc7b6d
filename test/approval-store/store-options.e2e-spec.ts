import { Body, Controller, Module, Post, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { ApprovalStore, InMemoryApprovalStore, RedisApprovalStore, RequireApproval, SesameConfigError, SesameModule, type SesameModuleOptions } from '../../lib/index.js';
import { SesameConfig } from '../../lib/config/sesame.config.js';
import { createApp, startApp } from '../support/nest-apps.js';
import { RedisServer } from '../support/redis-server.js';

@Controller()
class AsyncController {
  @Post('ops')
  @RequireApproval('ops.async', { mode: 'async' })
  run(@Body() body: unknown) {
    return body;
  }
}

const BASE: SesameModuleOptions = { apiKey: 'sk_test_SECRET_store_options_90ab', baseUrl: 'http://127.0.0.1:9', env: {} };

async function boot(options: SesameModuleOptions): Promise<INestApplication> {
  const { app } = await startApp('express', { imports: [SesameModule.forRoot(options)] }, undefined, { logger: false, listen: false });
  return app;
}

describe('SesameModule store option', () => {
  let redis: RedisServer;
  const apps: INestApplication[] = [];
  const started = async (options: SesameModuleOptions) => {
    const app = await boot(options);
    apps.push(app);
    return app;
  };

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('defaults to an in-memory store, one per app', async () => {
    const [one, two] = [await started(BASE), await started(BASE)];
    expect(one.get(ApprovalStore)).toBeInstanceOf(InMemoryApprovalStore);
    expect(one.get(ApprovalStore)).not.toBe(two.get(ApprovalStore));
  });

  it("{ type: 'redis', url } connects a Redis store at boot and closes it with the app", async () => {
    const app = await boot({ ...BASE, store: { type: 'redis', url: redis.url, keyPrefix: 'opts:' } });
    const store = app.get<RedisApprovalStore>(ApprovalStore);
    expect(store).toBeInstanceOf(RedisApprovalStore);
    expect(store.client.status).toBe('ready');
    await expect(store.claim('approval:apr_opts', 't', 60_000)).resolves.toBe('claimed');
    await app.close();
    expect(store.client.status).toBe('end');
  });

  it('forRootAsync takes the store from the factory', async () => {
    const { app } = await createApp(
      'express',
      { imports: [SesameModule.forRootAsync({ useFactory: async () => ({ ...BASE, store: { type: 'redis' as const, url: redis.url } }) })] },
      { logger: false },
    );
    apps.push(app);
    await app.init();
    expect(app.get(ApprovalStore)).toBeInstanceOf(RedisApprovalStore);
  });

  it('a store instance you pass is used as is and left open at shutdown', async () => {
    const client = new Redis(redis.url, { enableOfflineQueue: false, lazyConnect: true });
    await client.connect();
    const mine = new RedisApprovalStore({ client, keyPrefix: 'mine:' });
    const app = await boot({ ...BASE, store: mine });
    expect(app.get(ApprovalStore)).toBe(mine);
    await app.close();
    expect(client.status).toBe('ready');
    await expect(mine.claim('approval:apr_still_open', 't', 60_000)).resolves.toBe('claimed');
    await client.quit();
  });

  it('the store is injectable by its token in your own providers', async () => {
    @Module({ imports: [SesameModule.forRoot(BASE)] })
    class AppModule {}
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    expect(moduleRef.get(ApprovalStore, { strict: false })).toBeInstanceOf(InMemoryApprovalStore);
    await moduleRef.close();
  });

  it.each([
    ['a string', 'redis://127.0.0.1'],
    ['an unknown type', { type: 'postgres' }],
    ['an object that is no store', { claim: () => 'claimed' }],
    ['memory with options', { type: 'memory', url: 'redis://x' }],
  ])('refuses %s at boot with a SesameConfigError', async (_what, store) => {
    await expect(boot({ ...BASE, store: store as SesameModuleOptions['store'] })).rejects.toBeInstanceOf(SesameConfigError);
  });

  it('refuses a redis url of another scheme, without echoing it', async () => {
    const url = 'http://user:SECRET_pw@127.0.0.1:6379';
    const booting = boot({ ...BASE, store: { type: 'redis', url } });
    await expect(booting).rejects.toThrow('url must look like redis://');
    await expect(booting).rejects.not.toThrow('SECRET_pw');
  });

  it('refuses a malformed redis url with a SesameConfigError that names the problem, not the url', async () => {
    const error = await boot({ ...BASE, store: { type: 'redis', url: 'redis://:SECRET_pw@127.0.0.1:6379x' } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SesameConfigError);
    expect((error as Error).message).toContain('url is not a valid URL');
    expect(JSON.stringify(error)).not.toContain('SECRET_pw');
    expect(Object.values(error as object).join(' ')).not.toContain('SECRET_pw');
    expect((error as Error).cause).toBeUndefined();
  });

  it('webhookIdTtl: defaults to 24 h, and must be at least twice webhookTolerance', async () => {
    const app = await started(BASE);
    expect(app.get(SesameConfig).webhookIdTtl).toBe(86_400_000);
    await expect(boot({ ...BASE, webhookTolerance: 600_000, webhookIdTtl: 1_000_000 })).rejects.toThrow('webhookIdTtl must be at least twice webhookTolerance (1200000 ms)');
    const custom = await started({ ...BASE, webhookTolerance: 600_000, webhookIdTtl: 1_200_000 });
    expect(custom.get(SesameConfig).webhookIdTtl).toBe(1_200_000);
  });

  it('warns at boot when async routes rely on the default in-memory store, not when it was chosen', async () => {
    const warningsWith = async (options: SesameModuleOptions) => {
      const { app, logger } = await createApp('express', { imports: [SesameModule.forRoot(options)], controllers: [AsyncController] }, { rawBody: false });
      apps.push(app);
      await app.init();
      return logger.lines.filter((l) => l.startsWith('warn') && l.includes('in-memory approval store'));
    };
    expect(await warningsWith(BASE)).toEqual([expect.stringContaining("AsyncController.run() use mode 'async' with the default in-memory approval store")]);
    expect(await warningsWith({ ...BASE, store: { type: 'memory' } })).toEqual([]);
    expect(await warningsWith({ ...BASE, store: { type: 'redis', url: redis.url } })).toEqual([]);
  });
});
