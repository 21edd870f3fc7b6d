import { RefundLimits } from './refunds/refund-limits.js';
import { checkRedisUrl } from './redis/redis-url.js';

/** What the sample reads from its environment before Nest starts. */
export interface SampleSettings {
  /** PORT, default 3000; 0 picks a free port. */
  port: number;
  /** HOST, default 127.0.0.1: the admin routes have no login, so the sample stays on this machine. */
  host: string;
  /** BROKER_PORT for the embedded broker, default 8787; 0 picks a free port. */
  brokerPort: number;
  /** True when SESAME_API_KEY or SESAME_BROKER_URL names a broker: then no embedded broker is started. */
  externalBroker: boolean;
  /** SESAME_SAMPLE_REDIS_URL: the Redis for deferred payouts; unset, the sample starts a redis-server on PATH if there is one. */
  redisUrl: string | undefined;
  /** PATH, where the sample looks for redis-server. */
  path: string;
  /** SAMPLE_AUTO_APPROVE_BELOW (default 5000) and SAMPLE_REFUND_LIMIT (default 100000), in minor units. */
  refundLimits: RefundLimits;
}

export function readSampleSettings(env: Record<string, string | undefined>): SampleSettings {
  return {
    port: portFrom(env, 'PORT', 3000),
    host: env.HOST || '127.0.0.1',
    brokerPort: portFrom(env, 'BROKER_PORT', 8787),
    externalBroker: Boolean(env.SESAME_API_KEY || env.SESAME_BROKER_URL),
    redisUrl: env.SESAME_SAMPLE_REDIS_URL ? checkRedisUrl(env.SESAME_SAMPLE_REDIS_URL, 'SESAME_SAMPLE_REDIS_URL') : undefined,
    path: env.PATH ?? '',
    refundLimits: new RefundLimits(minorUnitsFrom(env, 'SAMPLE_AUTO_APPROVE_BELOW', 5_000), minorUnitsFrom(env, 'SAMPLE_REFUND_LIMIT', 100_000)),
  };
}

function portFrom(env: Record<string, string | undefined>, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(port >= 0 && port <= 65535)) throw new Error(`${name} must be a port number from 0 to 65535 (0 picks a free one)`);
  return port;
}

/** An amount in minor units: a policy limit read wrong must stop the app, not approve refunds. */
function minorUnitsFrom(env: Record<string, string | undefined>, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d{1,9}$/.test(raw)) throw new Error(`${name} must be a whole number of minor units (cents), e.g. 5000 for 50.00`);
  return Number(raw);
}
