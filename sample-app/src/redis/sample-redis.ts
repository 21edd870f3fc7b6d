import type { Logger } from '@nestjs/common';
import { redisLabel, withoutRedisPassword } from './redis-url.js';
import { findRedisServer, RedisServerProcess } from './redis-server.process.js';

/** The Redis the sample's deferred payouts run on. */
export interface SampleRedis {
  /** For the clients: may carry a password. */
  readonly url: string;
  /** For people: no credentials. */
  readonly label: string;
  /** Where it came from, for the banner. */
  readonly origin: 'SESAME_SAMPLE_REDIS_URL' | 'started by the sample';
  /** Stops the redis-server the sample started; a Redis from the environment is left running. */
  stop(): Promise<void>;
}

/**
 * SESAME_SAMPLE_REDIS_URL when set (it must answer, or the sample stops and says so); else a
 * redis-server from PATH, started on a free port; else null, and payouts keep the webhook flow.
 */
export async function resolveSampleRedis(settings: { redisUrl: string | undefined; path: string }, logger: Logger): Promise<SampleRedis | null> {
  if (settings.redisUrl) {
    await assertAnswers(settings.redisUrl);
    return { url: settings.redisUrl, label: redisLabel(settings.redisUrl), origin: 'SESAME_SAMPLE_REDIS_URL', stop: async () => undefined };
  }
  const executable = findRedisServer(settings.path);
  if (!executable) return null;
  let server: RedisServerProcess;
  try {
    server = await RedisServerProcess.start(executable);
  } catch (error) {
    // The sample still starts: it is only the deferred flow that needs Redis.
    logger.warn(`${executable} did not start, so payouts use the webhook flow: ${(error as Error).message}`);
    return null;
  }
  return { url: server.url, label: server.url, origin: 'started by the sample', stop: () => server.stop() };
}

/** One PING through ioredis (loaded only here: without Redis the sample never needs it), with no retries. */
async function assertAnswers(url: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 3_000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  // The cause (ECONNREFUSED, WRONGPASS): connect() itself rejects with "Connection is closed". A listener also keeps ioredis from printing it.
  let cause: Error | undefined;
  client.on('error', (error: Error) => (cause ??= error));
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    const reason = withoutRedisPassword((cause ?? (error as Error)).message, url);
    // No cause: ioredis' error may carry the options it was given, password included.
    // eslint-disable-next-line preserve-caught-error
    throw new Error(`SESAME_SAMPLE_REDIS_URL: Redis at ${redisLabel(url)} does not answer (${reason}). Start it, or unset SESAME_SAMPLE_REDIS_URL`);
  } finally {
    client.disconnect();
  }
}
