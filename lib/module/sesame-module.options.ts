import type { Type } from '@nestjs/common';
import type { ApprovalGate } from '../approval-gate/approval-gate.js';
import type { ApprovalStoreOption } from '../approval-store/approval-store.factory.js';
import type { SesameClientOptions } from '../client/sesame-client.options.js';

/** Options of `SesameModule.forRoot()` / the factory of `forRootAsync()`. Durations are milliseconds. */
export interface SesameModuleOptions extends Omit<SesameClientOptions, 'env'> {
  /**
   * `whsec_...` secret(s) that sign decision webhooks; several are accepted during a rotation.
   * Default: `SESAME_WEBHOOK_SECRET` (comma- or space-separated for several).
   */
  webhookSecret?: string | readonly string[];
  /** How far a webhook timestamp may be from now, past or future. Default 300_000 (5 minutes). */
  webhookTolerance?: number;
  /**
   * How long a processed decision webhook id is remembered, so a redelivery or replay runs no handler
   * twice. At least twice `webhookTolerance`. Default 86_400_000 (24 hours).
   */
  webhookIdTtl?: number;
  /**
   * Where approval uses (single use) and processed webhook ids are kept. Default `{ type: 'memory' }`
   * (this process only). With several replicas or to survive restarts: `{ type: 'redis', url: 'redis://...' }`
   * (needs the `ioredis` package) or your own ApprovalStore instance.
   */
  store?: ApprovalStoreOption;
  /** Where env fallbacks are read from. Default `process.env`. */
  env?: Record<string, string | undefined>;
}

/** Set once per `forRoot()` call, beside the options: they shape the module itself, so they cannot wait for a factory. */
export interface SesameModuleExtras {
  /** Register the module globally. Default false. */
  isGlobal?: boolean;
  /** Mount the built-in decision webhook endpoint (POST) at this path, dispatching to `@OnApprovalDecision` handlers. */
  webhookPath?: string;
  /**
   * A subclass of ApprovalGate to use instead of it, e.g. to override `requesterOf()` (who an async
   * approval is bound to) or `buildRequest()`. Its constructor takes the same dependencies.
   */
  approvalGate?: Type<ApprovalGate>;
}
