import { IsInt, IsOptional, Min } from 'class-validator';
import { resolveClientOptions, type ResolvedClientOptions, type SesameClientOptions } from '../client/sesame-client.options.js';
import { SesameConfigError } from '../errors.js';
import { validatePlain } from '../validation/validate-plain.js';
import { decodeWebhookSecret } from '../webhooks/webhook-secret.js';
import type { SesameModuleOptions } from './sesame-module.options.js';

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
}

/** Runs at bootstrap (inside the provider factory), so a bad option stops the app before it listens. */
export function resolveSesameConfig(options: SesameModuleOptions | undefined): SesameConfig {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new SesameConfigError('SesameModule options must be an object');
  }
  const { webhookSecret, webhookTolerance, env = process.env, ...clientOptions } = options ?? {};
  const problems = validatePlain(ModuleOptionRules, { webhookTolerance });
  if (problems.length > 0) throw new SesameConfigError(`Invalid SesameModule options: ${problems.join('; ')}`);

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
  return new SesameConfig({ ...clientOptions, env }, secrets, webhookTolerance ?? 300_000, client.defaultTimeout);
}

function toSecretList(value: unknown): string[] {
  if (value === undefined || value === null || value === '') return [];
  if (typeof value === 'string') return value.split(/[\s,]+/).filter(Boolean);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  throw new SesameConfigError('SesameModule: webhookSecret must be a string or an array of strings');
}
