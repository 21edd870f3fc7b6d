import { SesameConfigError } from '../errors.js';

/** A health indicator's answer for one key, as Terminus reads it: `{ [key]: { status, ...data } }`. */
export type HealthIndicatorAnswer<Key extends string, Status extends 'up' | 'down', Data> = Record<Key, Data & { status: Status }>;

/**
 * The part of Terminus' HealthIndicatorService (11 and later) the indicator uses. Structural, so this
 * package's declarations never import @nestjs/terminus, an optional peer dependency.
 */
export interface HealthIndicatorServiceLike {
  check<const Key extends string>(
    key: Key,
  ): {
    up<Data extends Record<string, unknown>>(data: Data): HealthIndicatorAnswer<Key, 'up', Data>;
    down<Data extends Record<string, unknown>>(data: Data): HealthIndicatorAnswer<Key, 'down', Data>;
  };
}

/** The HealthIndicatorService class: the token Terminus registers it under. */
export type HealthIndicatorServiceClass = abstract new (...args: never[]) => HealthIndicatorServiceLike;

/**
 * Loads @nestjs/terminus when a SesameHealthIndicator starts, never when the package is imported:
 * apps without health checks never load it, nor need it installed.
 */
export async function loadHealthIndicatorService(): Promise<HealthIndicatorServiceClass> {
  let loaded: { HealthIndicatorService?: unknown };
  try {
    loaded = (await import('@nestjs/terminus')) as { HealthIndicatorService?: unknown };
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new SesameConfigError('SesameHealthIndicator needs the @nestjs/terminus package: npm install @nestjs/terminus');
    }
    throw error;
  }
  if (typeof loaded.HealthIndicatorService !== 'function') {
    throw new SesameConfigError('SesameHealthIndicator: the installed @nestjs/terminus exports no HealthIndicatorService (need @nestjs/terminus 11 or later)');
  }
  return loaded.HealthIndicatorService as HealthIndicatorServiceClass;
}
