import { inspect } from 'node:util';
import { Injectable, Module, type INestApplication } from '@nestjs/common';
import { ApprovalsService, SesameModule, type SesameModuleOptions } from '../../lib/index.js';
import { SesameConfig } from '../../lib/config/sesame.config.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { startApp } from '../support/nest-apps.js';

const API_KEY = 'sk_test_SECRET_module_4e7d';
const WEBHOOK_SECRET = 'whsec_c2VjcmV0LW1vZHVsZS10ZXN0LTAxMjM0NTY3';

describe('SesameModule registration styles', () => {
  let broker: LocalBroker;
  let app: INestApplication | undefined;

  beforeAll(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY] });
  });
  afterEach(() => app?.close());
  afterAll(() => broker.stop());

  const boot = async (imports: unknown[], providers: unknown[] = []) => {
    ({ app } = await startApp('express', { imports: imports as never[], providers: providers as never[] }, undefined, { logger: false, listen: false }));
    return app;
  };
  const roundTrip = async (approvals: ApprovalsService) => {
    const approval = await approvals.trigger({ action: 'module.check', summary: 'check' });
    return (await approvals.get(approval.id)).id === approval.id;
  };

  it('forRootAsync with useClass', async () => {
    @Injectable()
    class SesameOptionsFactory {
      createSesameOptions(): SesameModuleOptions {
        return { apiKey: API_KEY, baseUrl: broker.url, env: {} };
      }
    }
    const started = await boot([SesameModule.forRootAsync({ useClass: SesameOptionsFactory })]);
    expect(await roundTrip(started.get(ApprovalsService))).toBe(true);
  });

  it('forRootAsync with useExisting', async () => {
    @Injectable()
    class SharedOptions {
      createSesameOptions(): SesameModuleOptions {
        return { apiKey: API_KEY, baseUrl: broker.url, env: {} };
      }
    }
    @Module({ providers: [SharedOptions], exports: [SharedOptions] })
    class OptionsModule {}
    const started = await boot([SesameModule.forRootAsync({ imports: [OptionsModule], useExisting: SharedOptions })]);
    expect(await roundTrip(started.get(ApprovalsService))).toBe(true);
  });

  it('isGlobal makes ApprovalsService injectable in modules that do not import SesameModule', async () => {
    @Injectable()
    class Consumer {
      constructor(readonly approvals: ApprovalsService) {}
    }
    @Module({ providers: [Consumer] })
    class FeatureModule {}
    const started = await boot([SesameModule.forRoot({ apiKey: API_KEY, baseUrl: broker.url, env: {}, isGlobal: true }), FeatureModule]);
    expect(await roundTrip(started.get(Consumer).approvals)).toBe(true);
  });

  it('without isGlobal, a module that does not import SesameModule cannot inject it', async () => {
    @Injectable()
    class Consumer {
      constructor(readonly approvals: ApprovalsService) {}
    }
    @Module({ providers: [Consumer] })
    class FeatureModule {}
    await expect(boot([SesameModule.forRoot({ apiKey: API_KEY, baseUrl: broker.url, env: {} }), FeatureModule])).rejects.toThrow(/ApprovalsService/);
  });

  it('the resolved config shows no secret when inspected or serialised', async () => {
    const started = await boot([SesameModule.forRoot({ apiKey: API_KEY, baseUrl: broker.url, webhookSecret: WEBHOOK_SECRET, env: {} })]);
    const config = started.get(SesameConfig);
    expect(config.webhookSecrets).toEqual([WEBHOOK_SECRET]);
    for (const shown of [inspect(config, { depth: 10, showHidden: true }), JSON.stringify(config)]) {
      expect(shown).not.toContain(API_KEY);
      expect(shown).not.toContain(WEBHOOK_SECRET);
    }
  });

  it('reads several SESAME_WEBHOOK_SECRET values for a rotation', async () => {
    const next = 'whsec_bmV4dC1zZWNyZXQtbW9kdWxlLXRlc3QtOTg3';
    const started = await boot([
      SesameModule.forRoot({ env: { SESAME_API_KEY: API_KEY, SESAME_BROKER_URL: broker.url, SESAME_WEBHOOK_SECRET: `${WEBHOOK_SECRET}, ${next}` } }),
    ]);
    expect(started.get(SesameConfig).webhookSecrets).toEqual([WEBHOOK_SECRET, next]);
  });
});
