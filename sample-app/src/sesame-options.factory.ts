import type { ConfigService } from '@nestjs/config';
import type { SesameModuleOptions } from 'nestjs-sesame';

/**
 * SesameModule's options, read through @nestjs/config: from the environment, or from the embedded
 * broker when none is configured. SesameModule validates them at bootstrap and names what is wrong.
 */
export function sesameOptionsFrom(config: ConfigService): SesameModuleOptions {
  const timeout = config.get<string>('APPROVAL_TIMEOUT_MS');
  return {
    apiKey: config.get<string>('SESAME_API_KEY'),
    baseUrl: config.get<string>('SESAME_BROKER_URL'),
    webhookSecret: config.get<string>('SESAME_WEBHOOK_SECRET'),
    defaultTimeout: timeout === undefined ? 5 * 60_000 : Number(timeout),
  };
}
