import { IsInt, IsOptional, Min } from 'class-validator';
import { resolveClientOptions, type ResolvedClientOptions, type SesameClientOptions } from '../client/sesame-client.options.js';
import { SesameConfigError } from '../errors.js';
import { validatePlain } from '../validation/validate-plain.js';
import { decodeWebhookSecret } from '../webhooks/webhook-secret.js';
import type { SesameModuleOptions } from './sesame-module.options.js';

const DEFAULT_WEBHOOK_ID_TTL = 24 * 3_600_000;

/**
 * The module's options after env fallbacks, defaults and validation: what every provider reads.
 * Secrets sit in #private fields behind getters, so logging or inspecting the config shows none of them.
 */
export class SesameConfig {
  readonly #client: SesameClientOptions;
  readonly #webhookSecrets: readonly string[];

  constructor(
    client: SesameClientOptions,
    webhookSecrets: readonly string[],
    readonly webhookTolerance: number,
    readonly defaultTimeout: number,
    /** How long processed webhook ids are remembered (ms). */
    readonly webhookIdTtl: number = Math.max(DEFAULT_WEBHOOK_ID_TTL, 2 * webhookTolerance),
  ) {
    this.#client = client;
    this.#webhookSecrets = webhookSecrets;
  }

  /** Validated options for `new SesameClient()`. */
  get clientOptions(): SesameClientOptions {
    return this.#client;
  }

  get webhookSecrets(): readonly string[] {
    return this.#webhookSecrets;
  }
}

class ModuleOptionRules {
  @IsOptional() @IsInt() @Min(1_000) webhookTolerance?: number;
  @IsOptional() @IsInt() @Min(1_000) webhookIdTtl?: number;
}

/** Runs at bootstrap (inside the provider factory), so a bad option stops the app before it listens. */
export function resolveSesameConfig(options: SesameModuleOptions | undefined): SesameConfig {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new SesameConfigError('SesameModule options must be an object');
  }
  // `store` is read by the store's own factory; it is no client option.
  const { webhookSecret, webhookTolerance, webhookIdTtl, store: _store, env = process.env, ...clientOptions } = options ?? {};
  const problems = validatePlain(ModuleOptionRules, { webhookTolerance, webhookIdTtl });
  if (problems.length > 0) throw new SesameConfigError(`Invalid SesameModule options: ${problems.join('; ')}`);
  const tolerance = webhookTolerance ?? 300_000;
  // A replay stays verifiable for `tolerance` on either side of its timestamp: remember ids at least that long.
  if (webhookIdTtl !== undefined && webhookIdTtl < 2 * tolerance) {
    throw new SesameConfigError(`Invalid SesameModule options: webhookIdTtl must be at least twice webhookTolerance (${2 * tolerance} ms)`);
  }

  let client: ResolvedClientOptions;
  try {
    client = resolveClientOptions({ ...clientOptions, env });
  } catch (error) {
    if (error instanceof SesameConfigError) throw new SesameConfigError(`SesameModule: ${error.message}`);
    throw error;
  }
  const secrets = toSecretList(webhookSecret ?? env.SESAME_WEBHOOK_SECRET);
  secrets.forEach((secret, i) => {
    try {
      decodeWebhookSecret(secret);
    } catch {
      throw new SesameConfigError(
        `SesameModule: webhookSecret${secrets.length > 1 ? `[${i}]` : ''} (or SESAME_WEBHOOK_SECRET) must look like whsec_<base64>, as the broker issued it`,
      );
    }
  });
  return new SesameConfig(
    { ...clientOptions, env },
    secrets,
    tolerance,
    client.defaultTimeout,
    webhookIdTtl ?? Math.max(DEFAULT_WEBHOOK_ID_TTL, 2 * tolerance),
  );
}

function toSecretList(value: unknown): string[] {
  if (value === undefined || value === null || value === '') return [];
  if (typeof value === 'string') return value.split(/[\s,]+/).filter(Boolean);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return [...value] as string[];
  throw new SesameConfigError('SesameModule: webhookSecret must be a string or an array of strings');
}
