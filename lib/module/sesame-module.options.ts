import type { SesameClientOptions } from '../client/sesame-client.options.js';

/** Options of `SesameModule.forRoot()` / the factory of `forRootAsync()`. Durations are milliseconds. */
export interface SesameModuleOptions extends Omit<SesameClientOptions, 'env'> {
  /**
   * `whsec_...` secret(s) that sign decision webhooks; several are accepted during a rotation.
   * Default: `SESAME_WEBHOOK_SECRET` (comma- or space-separated for several).
   */
  webhookSecret?: string | string[];
  /** How far a webhook timestamp may be from now, past or future. Default 300_000 (5 minutes). */
  webhookTolerance?: number;
  /** Where env fallbacks are read from. Default `process.env`. */
  env?: Record<string, string | undefined>;
}

/** Set once per `forRoot()` call, beside the options: they shape the module itself, so they cannot wait for a factory. */
export interface SesameModuleExtras {
  /** Register the module globally. Default false. */
  isGlobal?: boolean;
  /** Mount the built-in decision webhook endpoint (POST) at this path, dispatching to `@OnApprovalDecision` handlers. */
  webhookPath?: string;
}
