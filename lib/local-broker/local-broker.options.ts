import { BlockList, isIP } from 'node:net';
import { SesameConfigError } from '../errors.js';
import { generateWebhookSecret } from '../webhooks/sign-webhook.js';
import { decodeWebhookSecret } from '../webhooks/webhook-secret.js';
import type { WireApproval } from '../protocol/wire-approval.js';

/** The key the local broker accepts when no `apiKeys` option is given. Public by design: local use only. */
export const LOCAL_BROKER_DEFAULT_API_KEY = 'sk_test_local';
/** The requester label given to keys passed as a plain list. */
export const LOCAL_BROKER_DEFAULT_LABEL = 'local';

export interface WebhookRetryOptions {
  /** Total delivery attempts per event, first one included. Default 5. */
  attempts?: number;
  /** Delay before the 2nd attempt in ms; doubled before each later one. Default 1000. */
  baseDelayMs?: number;
  /** Per-attempt timeout in ms (connect + answer). Default 10_000. */
  timeoutMs?: number;
}

/** How long the local broker keeps approvals that are no longer pending (pending ones are always kept). */
export interface LocalBrokerRetentionOptions {
  /**
   * Evict a decided or expired approval this many ms after it left pending. Default 3_600_000 (1 hour);
   * `Infinity` keeps them regardless of age.
   */
  maxAgeMs?: number;
  /** Keep at most this many decided or expired approvals; the earliest decided are evicted first. Default 1000; `Infinity`: no cap. */
  maxCount?: number;
}

export const DEFAULT_RETENTION: Readonly<Required<LocalBrokerRetentionOptions>> = Object.freeze({
  maxAgeMs: 3_600_000,
  maxCount: 1000,
});

/** The local broker's auto-decision: `undefined` leaves the approval pending for a human. */
export type LocalBrokerDecision = 'approve' | 'deny' | undefined;

/**
 * Runs right after an approval is created (never for a dedup hit).
 * A synchronous answer is applied before the `201` is sent; a Promise is applied when it settles.
 */
export type LocalBrokerDecidePolicy = (approval: WireApproval) => LocalBrokerDecision | Promise<LocalBrokerDecision>;

export interface LocalBrokerLogger {
  log(message: string): void;
}

export interface LocalBrokerOptions {
  /** TCP port. Default 0: a random free port (read it back from `broker.url`). */
  port?: number;
  /**
   * Interface to bind. Default `127.0.0.1`. A host other than loopback (127.0.0.0/8, `::1`,
   * `localhost`), such as `0.0.0.0`, requires an explicit `apiKeys`: the default key is public.
   */
  host?: string;
  /**
   * Accepted API keys: a list (requester label `local`) or a map key -> requester label.
   * Default: `[LOCAL_BROKER_DEFAULT_API_KEY]`, on a loopback host only.
   */
  apiKeys?: readonly string[] | Record<string, string>;
  /** Active webhook signing secret(s), `whsec_<base64>`; several = one signature each (rotation). Default: a generated one. */
  webhookSecret?: string | readonly string[];
  webhookRetry?: WebhookRetryOptions;
  /**
   * How long decided and expired approvals stay readable (and hold their dedup key): at most
   * `maxAgeMs` after leaving pending and at most `maxCount` of them. Evicted ones answer 404, like an
   * unknown id. Default: 1 hour, 1000.
   */
  retention?: LocalBrokerRetentionOptions;
  /** Auto-decision policy for tests, demos and benchmarks. Default: none (approvals wait for a human). */
  decide?: LocalBrokerDecidePolicy;
  /** Where to log approvals, decisions and webhook deliveries. Default: silent. */
  logger?: LocalBrokerLogger | false;
  /**
   * Serve the approval dashboard at `/dashboard` (a page listing pending approvals with Approve and
   * Deny buttons, live over server-sent events; `/` redirects there). It has no login and answers
   * loopback clients only. Default true.
   */
  dashboard?: boolean;
}

export interface ResolvedLocalBrokerOptions {
  port: number;
  host: string;
  /** key -> requester label, in the order given. */
  apiKeys: ReadonlyMap<string, string>;
  webhookSecrets: readonly string[];
  webhookSecretGenerated: boolean;
  webhookRetry: Required<WebhookRetryOptions>;
  retention: Required<LocalBrokerRetentionOptions>;
  decide: LocalBrokerDecidePolicy | undefined;
  logger: LocalBrokerLogger | undefined;
  dashboard: boolean;
}

export const DEFAULT_WEBHOOK_RETRY: Readonly<Required<WebhookRetryOptions>> = Object.freeze({
  attempts: 5,
  baseDelayMs: 1000,
  timeoutMs: 10_000,
});

/** Applies defaults and refuses unusable options with a message naming the option (never its secret value). */
export function resolveLocalBrokerOptions(options: LocalBrokerOptions = {}): ResolvedLocalBrokerOptions {
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new SesameConfigError('LocalBroker option "port" must be an integer between 0 and 65535');
  }
  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host.length === 0) {
    throw new SesameConfigError('LocalBroker option "host" must be a non-empty string');
  }

  const apiKeys = new Map<string, string>();
  const rawKeys = options.apiKeys ?? [LOCAL_BROKER_DEFAULT_API_KEY];
  const entries: [unknown, unknown][] = Array.isArray(rawKeys) ? rawKeys.map((k) => [k, LOCAL_BROKER_DEFAULT_LABEL]) : Object.entries(rawKeys as Record<string, string>);
  for (const [key, label] of entries) {
    if (typeof key !== 'string' || key.length === 0 || /\s/.test(key)) {
      throw new SesameConfigError('LocalBroker option "apiKeys": every key must be a non-empty string without whitespace');
    }
    if (typeof label !== 'string' || label.length === 0) {
      throw new SesameConfigError('LocalBroker option "apiKeys": every requester label must be a non-empty string');
    }
    apiKeys.set(key, label);
  }
  if (apiKeys.size === 0) throw new SesameConfigError('LocalBroker option "apiKeys" must hold at least one key');
  if (options.apiKeys === undefined && !isLoopbackHost(host)) {
    throw new SesameConfigError(
      `LocalBroker refuses to listen on "${host.slice(0, 100)}" with the public default API key ${LOCAL_BROKER_DEFAULT_API_KEY}: ` +
        'anyone who can reach that interface could create and decide approvals. Pass "apiKeys" with a key of your own, ' +
        'or bind a loopback host (127.0.0.1, ::1, localhost).',
    );
  }

  const rawSecrets = options.webhookSecret;
  const webhookSecrets = rawSecrets === undefined ? [generateWebhookSecret()] : typeof rawSecrets === 'string' ? [rawSecrets] : [...rawSecrets];
  if (webhookSecrets.length === 0) throw new SesameConfigError('LocalBroker option "webhookSecret" must hold at least one secret');
  for (const secret of webhookSecrets) {
    try {
      decodeWebhookSecret(secret);
    } catch {
      throw new SesameConfigError('LocalBroker option "webhookSecret": every secret must look like whsec_<base64>');
    }
  }

  const webhookRetry = { ...DEFAULT_WEBHOOK_RETRY };
  for (const [name, value] of Object.entries(options.webhookRetry ?? {})) {
    if (value === undefined) continue;
    if (!(name in webhookRetry)) throw new SesameConfigError(`LocalBroker option "webhookRetry.${name}" is unknown`);
    const min = name === 'baseDelayMs' ? 0 : 1;
    if (!Number.isInteger(value) || (value as number) < min) {
      throw new SesameConfigError(`LocalBroker option "webhookRetry.${name}" must be an integer >= ${min}`);
    }
    webhookRetry[name as keyof WebhookRetryOptions] = value as number;
  }

  const retention = { ...DEFAULT_RETENTION };
  for (const [name, value] of Object.entries(options.retention ?? {})) {
    if (value === undefined) continue;
    if (!(name in retention)) throw new SesameConfigError(`LocalBroker option "retention.${name}" is unknown`);
    if (!(value === Infinity || (Number.isInteger(value) && (value as number) >= 0))) {
      throw new SesameConfigError(`LocalBroker option "retention.${name}" must be an integer >= 0, or Infinity`);
    }
    retention[name as keyof LocalBrokerRetentionOptions] = value as number;
  }

  if (options.decide !== undefined && typeof options.decide !== 'function') {
    throw new SesameConfigError('LocalBroker option "decide" must be a function');
  }
  const logger = options.logger === false || options.logger === undefined ? undefined : options.logger;
  if (logger !== undefined && typeof logger.log !== 'function') {
    throw new SesameConfigError('LocalBroker option "logger" must have a log(message) method, or be false');
  }

  if (options.dashboard !== undefined && typeof options.dashboard !== 'boolean') {
    throw new SesameConfigError('LocalBroker option "dashboard" must be a boolean');
  }

  return {
    port,
    host,
    apiKeys,
    webhookSecrets,
    webhookSecretGenerated: rawSecrets === undefined,
    webhookRetry,
    retention,
    decide: options.decide,
    logger,
    dashboard: options.dashboard ?? true,
  };
}

/**
 * True for the hosts that only this machine can reach: 127.0.0.0/8, ::1 (any spelling, IPv4-mapped
 * too) and `localhost`. Anything else (0.0.0.0, ::, another address, a name) may be reachable from
 * the network.
 */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase();
  if (name === 'localhost' || name === 'localhost.') return true;
  const family = isIP(host);
  if (family === 0) return false;
  const loopback = new BlockList();
  loopback.addSubnet('127.0.0.0', 8, 'ipv4');
  loopback.addAddress('::1', 'ipv6');
  return loopback.check(host, family === 6 ? 'ipv6' : 'ipv4');
}
