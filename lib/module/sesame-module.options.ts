import type { ConfigurableModuleAsyncOptions, Type } from '@nestjs/common';
import type { ApprovalGate } from '../approval-gate/approval-gate.js';
import type { ApprovalPolicy } from '../approval-gate/approval-policy.js';
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
   * How long one delivery holds a decision webhook's id while its handlers run, renewed every third of
   * it; a redelivery takes over only once the holder stopped renewing (its process died). Default 60_000.
   */
  webhookClaimLease?: number;
  /**
   * The secret approvals are bound to their call with (an HMAC over action, arguments and requester),
   * at least 32 characters. Default: `SESAME_BINDING_SECRET`, else derived from the API key, so replicas
   * with one API key agree. Set the same value in every app that must accept each other's async approvals.
   */
  bindingSecret?: string;
  /**
   * Most blocking approvals this process waits on at once (each holds a connection to the broker);
   * beyond it a gated call fails at once with `503 approval_capacity_exceeded`. Default 20_000.
   */
  maxPendingApprovals?: number;
  /**
   * Where approval uses (single use) and processed webhook ids are kept. Default `{ type: 'memory' }`
   * (this process only). With several replicas or to survive restarts: `{ type: 'redis', url: 'redis://...' }`
   * (needs the `ioredis` package) or your own ApprovalStore instance.
   */
  store?: ApprovalStoreOption;
  /** `mode: 'deferred'` BullMQ jobs (see README, "Deferred approvals on BullMQ"). */
  deferred?: {
    /**
     * How long a job awaiting approval stays delayed before it looks at its approval again, in ms, when no
     * decision webhook resumed it first. Default 30_000; a decorator's `recheckInterval` overrides it.
     */
    recheckInterval?: number;
    /**
     * Where the broker delivers the decision webhook that resumes a job at once: the app's `webhookPath`
     * as the broker reaches it (`https://api.example.com/sesame/webhook`). A decorator's `callbackUrl`
     * overrides it. Without one, jobs resume at their next re-check.
     */
    callbackUrl?: string;
  };
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
  /**
   * Which calls a gate can see. `'gated-routes'` (default): handlers with @RequireApproval, which pay
   * for it alone. `'all-routes'`: every HTTP request (and resolver, message, socket handler) runs in a scope (a measured cost on every route,
   * see BENCHMARKS.md), so a gated service method called from an ungated route also stops waiting when
   * the client disconnects and can use `mode: 'async'`.
   */
  requestContext?: 'gated-routes' | 'all-routes';
  /**
   * Decides before any human is asked whether a gated call needs one: an injectable class implementing
   * ApprovalPolicy, whose `evaluate(call)` answers `'ask'`, `'allow'` (runs at once) or `{ deny: reason }`
   * (403 `approval_policy_denied`). If the class is a provider anywhere in the app, that instance is used;
   * else the module creates it, with dependencies from `forRootAsync`'s `imports` or global providers.
   */
  policy?: Type<ApprovalPolicy>;
}

/** What `SesameModule.forRootAsync()` takes: `useFactory` (with `imports` and `inject`), `useClass` or `useExisting`, plus the extras. */
export type SesameModuleAsyncOptions = ConfigurableModuleAsyncOptions<SesameModuleOptions, 'createSesameOptions'> & SesameModuleExtras;
