import { ValidationPipe, type ModuleMetadata, type ValidationPipeOptions } from '@nestjs/common';
import { SesameModule } from '../../lib/index.js';
import { LocalBroker, type LocalBrokerOptions } from '../../lib/testing/index.js';
import { startApp, type AdapterName, type StartedApp } from './nest-apps.js';

export interface GatedAppOptions extends ModuleMetadata {
  /** The key the broker accepts and the module uses. */
  apiKey: string;
  /** More LocalBroker options (decide, logger...). */
  broker?: Omit<LocalBrokerOptions, 'apiKeys'>;
  /** More SesameModule.forRoot options (apiKey, baseUrl and env: {} are set). */
  sesame?: Partial<Parameters<typeof SesameModule.forRoot>[0]>;
  /** A global ValidationPipe with these options. */
  validation?: ValidationPipeOptions;
}

export interface GatedApp {
  broker: LocalBroker;
  started: StartedApp;
}

/** A real local broker, and a real app gated through it (SesameModule first in its imports). */
export async function startGatedApp(adapter: AdapterName, options: GatedAppOptions): Promise<GatedApp> {
  const { apiKey, broker: brokerOptions, sesame, validation, imports = [], ...metadata } = options;
  const broker = await LocalBroker.start({ apiKeys: [apiKey], ...brokerOptions });
  try {
    const started = await startApp(
      adapter,
      { ...metadata, imports: [SesameModule.forRoot({ apiKey, baseUrl: broker.url, env: {}, ...sesame }), ...imports] },
      validation && ((app) => app.useGlobalPipes(new ValidationPipe(validation))),
    );
    return { broker, started };
  } catch (error) {
    await broker.stop();
    throw error;
  }
}
