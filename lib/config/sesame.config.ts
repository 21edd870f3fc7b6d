import type { KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import type { SesameClientOptions } from '../client/sesame-client.options.js';

export const DEFAULT_WEBHOOK_ID_TTL = 24 * 3_600_000;
export const DEFAULT_WEBHOOK_CLAIM_LEASE = 60_000;
/** Enough for the 10,000-waiter benchmark with room to spare; each pending wait holds one socket to the broker. */
export const DEFAULT_MAX_PENDING_APPROVALS = 20_000;
/** How often a deferred job awaiting approval looks at its approval again when no webhook resumed it. */
export const DEFAULT_DEFERRED_RECHECK_INTERVAL = 30_000;

/** Everything SesameConfig holds, already validated (resolve-sesame-config.ts builds it from the module's options). */
export interface SesameSettings {
  client: SesameClientOptions;
  webhookSecrets: readonly string[];
  /** How far a webhook timestamp may be from now (ms). */
  webhookTolerance: number;
  defaultTimeout: number;
  /** How long processed webhook ids are remembered (ms). */
  webhookIdTtl: number;
  /** The key approval bindings are MACed with (see approval-binding.ts); never leaves the process. */
  bindingKey: KeyObject;
  /** How long a decision webhook's claim lasts without renewal (ms). */
  webhookClaimLease: number;
  /** Most blocking approvals this process waits on at once. */
  maxPendingApprovals: number;
  /** Deferred jobs: how long a job awaiting approval stays delayed before it looks again (ms). */
  deferredRecheckInterval: number;
  /** Deferred jobs: where the broker delivers the decision webhook that resumes a job, unless the decorator names one. */
  deferredCallbackUrl: string | undefined;
}

/**
 * The module's settings after env fallbacks, defaults and validation: what the client, the gate and
 * the webhook adapters read. It sits below them (they never import the module) and is filled by the
 * module from its options. Secrets sit in #private fields behind getters, so logging or inspecting
 * the config shows none of them.
 */
export class SesameConfig {
  readonly #client: SesameClientOptions;
  readonly #webhookSecrets: readonly string[];
  readonly #bindingKey: KeyObject;
  readonly webhookTolerance: number;
  readonly defaultTimeout: number;
  readonly webhookIdTtl: number;
  readonly webhookClaimLease: number;
  readonly maxPendingApprovals: number;
  readonly deferredRecheckInterval: number;
  readonly deferredCallbackUrl: string | undefined;

  constructor(settings: SesameSettings) {
    this.#client = settings.client;
    this.#webhookSecrets = settings.webhookSecrets;
    this.#bindingKey = settings.bindingKey;
    this.webhookTolerance = settings.webhookTolerance;
    this.defaultTimeout = settings.defaultTimeout;
    this.webhookIdTtl = settings.webhookIdTtl;
    this.webhookClaimLease = settings.webhookClaimLease;
    this.maxPendingApprovals = settings.maxPendingApprovals;
    this.deferredRecheckInterval = settings.deferredRecheckInterval;
    this.deferredCallbackUrl = settings.deferredCallbackUrl;
  }

  get bindingKey(): KeyObject {
    return this.#bindingKey;
  }

  /** What logging or inspecting the config shows: the settings, never a secret (also with `getters: true`). */
  toJSON(): Record<string, unknown> {
    const { webhookTolerance, defaultTimeout, webhookIdTtl, webhookClaimLease, maxPendingApprovals, deferredRecheckInterval, deferredCallbackUrl } = this;
    return {
      webhookTolerance,
      defaultTimeout,
      webhookIdTtl,
      webhookClaimLease,
      maxPendingApprovals,
      deferredRecheckInterval,
      deferredCallbackUrl,
      webhookSecrets: this.#webhookSecrets.length,
    };
  }

  [inspect.custom](): string {
    return `SesameConfig ${inspect(this.toJSON())}`;
  }

  /** Validated options for `new SesameClient()`. */
  get clientOptions(): SesameClientOptions {
    return this.#client;
  }

  get webhookSecrets(): readonly string[] {
    return this.#webhookSecrets;
  }
}
