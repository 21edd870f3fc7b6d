import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { IsInt, IsObject, IsOptional, IsString, IsUrl, Max, Min } from 'class-validator';
import { resolveClientOptions, type ResolvedClientOptions } from '../client/sesame-client.options.js';
import {
  DEFAULT_DEFERRED_RECHECK_INTERVAL,
  DEFAULT_MAX_PENDING_APPROVALS,
  DEFAULT_WEBHOOK_CLAIM_LEASE,
  DEFAULT_WEBHOOK_ID_TTL,
  SesameConfig,
} from '../config/sesame.config.js';
import { SesameConfigError } from '../errors.js';
import { validatePlain } from '../validation/validate-plain.js';
import { MIN_WEBHOOK_SECRET_BYTES } from '../webhooks/webhook-verifier.js';
import { decodeWebhookSecret } from '../webhooks/webhook-secret.js';
import type { SesameModuleOptions } from './sesame-module.options.js';

class ModuleOptionRules {
  @IsOptional() @IsInt() @Min(1_000) webhookTolerance?: number;
  @IsOptional() @IsInt() @Min(1_000) webhookIdTtl?: number;
  @IsOptional() @IsInt() @Min(1_000) @Max(3_600_000) webhookClaimLease?: number;
  @IsOptional() @IsInt() @Min(1) maxPendingApprovals?: number;
  @IsOptional() @IsString() bindingSecret?: string;
  @IsOptional() @IsObject() deferred?: object;
}

class DeferredOptionRules {
  @IsOptional() @IsInt() @Min(100) @Max(86_400_000) recheckInterval?: number;
  @IsOptional() @IsUrl({ protocols: ['http', 'https'], require_protocol: true, require_tld: false }) callbackUrl?: string;
}

/** Runs at bootstrap (inside the provider factory), so a bad option stops the app before it listens. */
export function resolveSesameConfig(options: SesameModuleOptions | undefined): SesameConfig {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new SesameConfigError('SesameModule options must be an object');
  }
  // `store` is read by the store's own factory; it is no client option.
  const {
    webhookSecret,
    webhookTolerance,
    webhookIdTtl,
    webhookClaimLease,
    maxPendingApprovals,
    bindingSecret: bindingSecretOption,
    deferred,
    store: _store,
    env = process.env,
    ...clientOptions
  } = options ?? {};
  const bindingSecret = bindingSecretOption ?? (env.SESAME_BINDING_SECRET || undefined);
  const problems = [
    ...validatePlain(ModuleOptionRules, { webhookTolerance, webhookIdTtl, webhookClaimLease, maxPendingApprovals, bindingSecret, deferred }),
    ...(typeof deferred === 'object' && deferred !== null ? validatePlain(DeferredOptionRules, deferred).map((p) => `deferred.${p}`) : []),
  ];
  if (typeof bindingSecret === 'string' && (bindingSecret.trim() !== bindingSecret || bindingSecret.length < 32)) {
    // A trailing newline from a secrets file would make replicas that trim it disagree.
    problems.push('bindingSecret: must be at least 32 characters with no leading or trailing whitespace');
  }
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
    let bytes: number;
    try {
      bytes = decodeWebhookSecret(secret).length;
    } catch {
      throw new SesameConfigError(
        `SesameModule: webhookSecret${secrets.length > 1 ? `[${i}]` : ''} (or SESAME_WEBHOOK_SECRET) must look like whsec_<base64>, as the broker issued it`,
      );
    }
    if (bytes < MIN_WEBHOOK_SECRET_BYTES) {
      throw new SesameConfigError(
        `SesameModule: webhookSecret${secrets.length > 1 ? `[${i}]` : ''} (or SESAME_WEBHOOK_SECRET) holds fewer than ${MIN_WEBHOOK_SECRET_BYTES} bytes: too short to resist guessing`,
      );
    }
  });
  return new SesameConfig({
    client: { ...clientOptions, env },
    webhookSecrets: secrets,
    webhookTolerance: tolerance,
    defaultTimeout: client.defaultTimeout,
    webhookIdTtl: webhookIdTtl ?? Math.max(DEFAULT_WEBHOOK_ID_TTL, 2 * tolerance),
    bindingKey: bindingKeyFrom(bindingSecret ?? client.apiKey),
    webhookClaimLease: webhookClaimLease ?? DEFAULT_WEBHOOK_CLAIM_LEASE,
    maxPendingApprovals: maxPendingApprovals ?? DEFAULT_MAX_PENDING_APPROVALS,
    deferredRecheckInterval: deferred?.recheckInterval ?? DEFAULT_DEFERRED_RECHECK_INTERVAL,
    deferredCallbackUrl: deferred?.callbackUrl,
  });
}

/**
 * A key of its own for bindings, derived from the binding secret or, by default, from the API key:
 * replicas sharing a key agree, and nobody without it (a caller, another app's code) can compute a
 * binding. Derived rather than used as is, so a binding never doubles as anything the key signs.
 */
function bindingKeyFrom(secret: string): KeyObject {
  // A KeyObject: imported once (not per HMAC), and it shows no bytes when inspected.
  return createSecretKey(createHmac('sha256', secret).update('nestjs-sesame approval binding v2').digest());
}

function toSecretList(value: unknown): string[] {
  if (value === undefined || value === null || value === '') return [];
  if (typeof value === 'string') return value.split(/[\s,]+/).filter(Boolean);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return [...value] as string[];
  throw new SesameConfigError('SesameModule: webhookSecret must be a string or an array of strings');
}
