import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { ApprovalStore } from '../approval-store/approval-store.interface.js';
import { InMemoryApprovalStore } from '../approval-store/in-memory-approval.store.js';
import { SesameClient } from '../client/sesame-client.js';
import { SesameConfigError } from '../errors.js';
import { probeBrokerHealth } from './broker-health.probe.js';
import { loadHealthIndicatorService, type HealthIndicatorServiceLike } from './load-terminus.js';

/**
 * What `isHealthy(key)` answers, as a Terminus health indicator result. `status` is `down` when the
 * broker or the store is; `reason` (only then) says why in fixed words and error codes: never a URL,
 * an API key, a password, nor a host name.
 * - `broker`: `GET /healthz` of the module's broker answered `200 {"ok": true}` in time;
 * - `store`: the module's ApprovalStore answered `ping()` in time (`up`/`down`); `memory` for the
 *   in-memory store (nothing to reach); `unchecked` for a store of your own without `ping()`.
 */
export type SesameHealthResult<Key extends string = 'sesame'> = Record<
  Key,
  {
    status: 'up' | 'down';
    broker: 'up' | 'down';
    store: 'up' | 'down' | 'memory' | 'unchecked';
    reason?: string;
  }
>;

export interface SesameHealthCheckOptions {
  /** Longest wait for the broker and for the store, in ms (both are asked at once). Default 3_000, at most 60_000. */
  timeout?: number;
}

const DEFAULT_TIMEOUT_MS = 3_000;
const MAX_TIMEOUT_MS = 60_000;

type StoreHealth = { state: 'up' | 'memory' | 'unchecked' } | { state: 'down'; reason: string };

/**
 * A health indicator for @nestjs/terminus (11 or later): is the Sesame broker reachable, and does the
 * approval store answer? Provide it beside TerminusModule where SesameModule's providers are visible
 * (`isGlobal: true`, or the module that imports SesameModule):
 *
 *   this.health.check([() => this.sesame.isHealthy('sesame')])
 *
 * Terminus (an optional peer dependency) is loaded when the indicator starts, never when nestjs-sesame
 * is imported; its HealthIndicatorService is taken from the app's TerminusModule by its class. Boot
 * fails with SesameConfigError when Terminus is missing.
 */
@Injectable()
export class SesameHealthIndicator implements OnModuleInit {
  // Private (#): nothing of the client, the store or the app shows when the indicator is inspected.
  readonly #baseUrl: string;
  readonly #store: ApprovalStore;
  readonly #moduleRef: ModuleRef;
  #indicators: Promise<HealthIndicatorServiceLike> | undefined;

  constructor(client: SesameClient, @Inject(ApprovalStore) store: ApprovalStore, moduleRef: ModuleRef) {
    this.#baseUrl = client.baseUrl;
    this.#store = store;
    this.#moduleRef = moduleRef;
  }

  /** Resolves Terminus at boot, so a missing TerminusModule stops the app instead of failing every health check. */
  async onModuleInit(): Promise<void> {
    await this.#healthIndicators();
  }

  /**
   * Asks the broker and the store at once; settles within `timeout` ms even when a peer accepts
   * connections and never answers. Never rejects for an outage: it answers `status: 'down'`.
   */
  async isHealthy<const Key extends string = 'sesame'>(key: Key = 'sesame' as Key, options: SesameHealthCheckOptions = {}): Promise<SesameHealthResult<Key>> {
    if (typeof key !== 'string' || key.length === 0 || key.length > 100)
      throw new SesameConfigError('SesameHealthIndicator: key must be a non-empty string of at most 100 characters');
    const timeout = checkTimeout(options?.timeout);
    const indicators = await this.#healthIndicators();
    const [broker, store] = await Promise.all([probeBrokerHealth(this.#baseUrl, timeout), this.#probeStore(timeout)]);
    const reasons = [broker.up ? undefined : broker.reason, store.state === 'down' ? store.reason : undefined].filter((reason) => reason !== undefined);
    const session = indicators.check(key);
    const details = { broker: broker.up ? ('up' as const) : ('down' as const), store: store.state };
    return reasons.length === 0 ? session.up(details) : session.down({ ...details, reason: reasons.join('; ') });
  }

  #healthIndicators(): Promise<HealthIndicatorServiceLike> {
    this.#indicators ??= loadHealthIndicatorService().then((token) => {
      try {
        return this.#moduleRef.get(token, { strict: false });
      } catch {
        throw new SesameConfigError(
          'SesameHealthIndicator: no HealthIndicatorService in the app; import TerminusModule (from @nestjs/terminus) in the module that provides it',
        );
      }
    });
    return this.#indicators;
  }

  async #probeStore(timeout: number): Promise<StoreHealth> {
    const store = this.#store;
    if (store instanceof InMemoryApprovalStore) return { state: 'memory' };
    if (typeof store.ping !== 'function') return { state: 'unchecked' };
    // The error itself stays out: a store's message may name its host (the Redis store logs its own outage, redacted).
    const answer = await within(
      Promise.resolve().then(() => store.ping!()),
      timeout,
    );
    if (answer === 'answered') return { state: 'up' };
    return { state: 'down', reason: answer === 'timeout' ? `approval store did not answer within ${timeout} ms` : 'approval store unavailable' };
  }
}

function checkTimeout(timeout: unknown): number {
  if (timeout === undefined) return DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(timeout) || (timeout as number) <= 0 || (timeout as number) > MAX_TIMEOUT_MS) {
    throw new SesameConfigError(`SesameHealthIndicator: timeout must be a positive integer of milliseconds, at most ${MAX_TIMEOUT_MS}`);
  }
  return timeout as number;
}

/** How `work` settled within `ms`; a late settlement is ignored (and cannot go unhandled). */
function within(work: Promise<unknown>, ms: number): Promise<'answered' | 'failed' | 'timeout'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  const settled = work.then(
    () => 'answered' as const,
    () => 'failed' as const,
  );
  return Promise.race([settled, timeout]).finally(() => clearTimeout(timer));
}
