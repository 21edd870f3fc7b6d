import type { ConfigService } from '@nestjs/config';
import type { SesameModuleOptions } from 'nestjs-sesame';
import { SESAME_WEBHOOK_PATH } from './webhook-path.js';

/**
 * SesameModule's options, read through @nestjs/config: from the environment, or from the embedded
 * broker when none is configured. SesameModule validates them at bootstrap and names what is wrong.
 * `redisUrl`: the sample runs deferred payouts, whose single use must be kept in Redis (the boot refuses
 * them on the in-memory store), and whose decision webhooks come back to the app's webhook path.
 */
export function sesameOptionsFrom(config: ConfigService, redisUrl?: string): SesameModuleOptions {
  const timeout = config.get<string>('APPROVAL_TIMEOUT_MS');
  return {
    apiKey: config.get<string>('SESAME_API_KEY'),
    baseUrl: config.get<string>('SESAME_BROKER_URL'),
    webhookSecret: config.get<string>('SESAME_WEBHOOK_SECRET'),
    defaultTimeout: timeout === undefined ? 5 * 60_000 : Number(timeout),
    ...(redisUrl !== undefined && {
      store: { type: 'redis', url: redisUrl, keyPrefix: 'sesame-sample:' },
      deferred: { callbackUrl: new URL(SESAME_WEBHOOK_PATH, config.getOrThrow<string>('PUBLIC_URL')).toString() },
    }),
  };
}
