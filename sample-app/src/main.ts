import 'reflect-metadata';
import { Logger, ValidationPipe, type INestApplication } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { startEmbeddedBroker } from './embedded-broker.js';
import { sampleBanner } from './sample-banner.js';
import { readSampleSettings } from './sample-settings.js';

const logger = new Logger('Sample');

async function main(): Promise<void> {
  const settings = readSampleSettings(process.env);
  const broker = settings.externalBroker ? null : await startEmbeddedBroker(settings.brokerPort, process.env.SESAME_WEBHOOK_SECRET);
  let app: INestApplication | undefined;
  try {
    // rawBody: the webhook signature is checked on the exact bytes the broker sent.
    // No forceCloseConnections: SesameModule ends the waits for a decision before the server closes, and the
    // callers must still get that answer (503, or APPROVAL_UNAVAILABLE over GraphQL) instead of a cut connection.
    // Boot quietly (warnings and errors only), so the banner below is what the terminal shows.
    app = await NestFactory.create(AppModule.register(broker, settings.refundLimits), { rawBody: true, logger: ['error', 'warn'] });
    app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
    await app.listen(settings.port, settings.host);
  } catch (error) {
    await app?.close();
    await broker?.stop();
    if ((error as { code?: string }).code === 'EADDRINUSE') throw new Error(`PORT ${settings.port} is already in use: set PORT=0 to pick a free port`, { cause: error });
    throw error;
  }

  app.useLogger(['error', 'warn', 'log']);
  const apiUrl = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  const config = app.get(ConfigService);
  // Decision webhooks for payouts come back here; set PUBLIC_URL when the broker reaches the app by another address.
  if (!config.get<string>('PUBLIC_URL')) config.set('PUBLIC_URL', apiUrl);
  process.stdout.write(sampleBanner(apiUrl, broker, config.get<string>('SESAME_BROKER_URL'), settings.refundLimits));

  const running = app;
  const shutdown = (signal: string) => {
    logger.log(`${signal} received: stopping${broker ? ' the app and the broker' : ''}`);
    const force = setTimeout(() => {
      logger.error('Shutdown took more than 10 s: exiting');
      process.exit(1);
    }, 10_000).unref();
    void (async () => {
      await running.close();
      await broker?.stop();
      clearTimeout(force);
      logger.log('Stopped.');
    })();
  };
  // once: a second Ctrl+C ends the process at once.
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((error: unknown) => {
  logger.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
