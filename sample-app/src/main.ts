import 'reflect-metadata';
import { Logger, ValidationPipe, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { LocalBroker } from 'nestjs-sesame/testing';
import { AppModule } from './app.module.js';
import { startEmbeddedBroker } from './embedded-broker.js';
import { freePort } from './free-port.js';
import { resolveSampleRedis } from './redis/sample-redis.js';
import { listed, sampleBanner } from './sample-banner.js';
import { readSampleSettings } from './sample-settings.js';

const logger = new Logger('Sample');

async function main(): Promise<void> {
  const settings = readSampleSettings(process.env);
  const redis = await resolveSampleRedis(settings, logger);
  let broker: LocalBroker | null = null;
  let app: INestApplication | undefined;
  try {
    broker = settings.externalBroker ? null : await startEmbeddedBroker(settings.brokerPort, process.env.SESAME_WEBHOOK_SECRET);
    // Known before the app is made: SesameModule's options name it (deferred.callbackUrl) when payouts are deferred jobs.
    const port = settings.port === 0 ? await freePort(settings.host) : settings.port;
    // rawBody: the webhook signature is checked on the exact bytes the broker sent.
    // No forceCloseConnections: SesameModule ends the waits for a decision before the server closes, and the
    // callers must still get that answer (503, or APPROVAL_UNAVAILABLE over GraphQL) instead of a cut connection.
    // Boot quietly (warnings and errors only), so the banner below is what the terminal shows.
    const root = await AppModule.register({ embeddedBroker: broker, refundLimits: settings.refundLimits, redisUrl: redis?.url, apiUrl: localUrl(settings.host, port) });
    app = await NestFactory.create(root, { rawBody: true, logger: ['error', 'warn'] });
    app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
    await app.listen(port, settings.host);
  } catch (error) {
    await app?.close();
    await broker?.stop();
    await redis?.stop();
    if ((error as { code?: string }).code === 'EADDRINUSE') throw new Error(`PORT ${settings.port} is already in use: set PORT=0 to pick a free port`, { cause: error });
    throw error;
  }

  app.useLogger(['error', 'warn', 'log']);
  const apiUrl = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  process.stdout.write(sampleBanner({ apiUrl, embeddedBroker: broker, brokerUrl: process.env.SESAME_BROKER_URL, limits: settings.refundLimits, redis }));

  const running = app;
  const stopping = listed(['the app', broker && 'the broker', redis?.origin === 'started by the sample' && 'redis-server']);
  const shutdown = (signal: string) => {
    logger.log(`${signal} received: stopping ${stopping}`);
    const force = setTimeout(() => {
      logger.error('Shutdown took more than 10 s: exiting');
      process.exit(1);
    }, 10_000).unref();
    void (async () => {
      // The app first: its BullMQ workers and the approval store still talk to Redis while they close.
      await running.close();
      await broker?.stop();
      await redis?.stop();
      clearTimeout(force);
      logger.log('Stopped.');
    })();
  };
  // once: a second Ctrl+C ends the process at once.
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

/** The URL the app listens on as this machine reaches it (as Nest's getUrl() writes it, loopback for "any"). */
function localUrl(host: string, port: number): string {
  if (host === '0.0.0.0' || host === '::') return `http://127.0.0.1:${port}`;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

main().catch((error: unknown) => {
  logger.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
