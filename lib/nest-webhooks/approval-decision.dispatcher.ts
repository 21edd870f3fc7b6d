import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { ApprovalStore } from '../approval-store/approval-store.interface.js';
import { keepClaimed } from '../approval-store/keep-claimed.js';
import { SesameConfigError } from '../errors.js';
import { SesameConfig } from '../config/sesame.config.js';
import type { ApprovalDecisionPayload } from '../webhooks/webhook-payload.js';
import { ON_APPROVAL_DECISION_METADATA, type OnApprovalDecisionMetadata } from './on-approval-decision.decorator.js';
import { SesameWebhookVerifier } from './sesame-webhook.verifier.js';

interface DecisionHandler {
  /** `ClassName.method()`, for logs and errors. */
  readonly name: string;
  /** null: every decision. */
  readonly actions: readonly string[] | null;
  readonly invoke: (payload: ApprovalDecisionPayload) => unknown;
}

type InstanceWrapper = ReturnType<DiscoveryService['getProviders']>[number];

/** What dispatchOnce() did with a webhook. */
export type WebhookDispatchResult =
  /** First delivery of this webhook id: every matching handler ran and succeeded. */
  | { status: 'dispatched'; handlers: number }
  /** Already processed (a redelivery or a replay, maybe to another replica): nothing ran. */
  | { status: 'duplicate' }
  /** Another request holds this webhook id right now: nothing ran; answer non-2xx so the broker redelivers. */
  | { status: 'in_progress' };

/**
 * Runs the @OnApprovalDecision methods of this app's providers and controllers for a verified
 * decision webhook. The built-in endpoint (`webhookPath`) calls dispatch(); a custom endpoint can too.
 */
@Injectable()
export class ApprovalDecisionDispatcher implements OnModuleInit {
  private readonly logger = new Logger('SesameWebhook');
  private handlers: readonly DecisionHandler[] = [];

  // #private: DiscoveryService reaches the whole module container (the module's options, API key and
  // store URL among them), so a deep util.inspect of a field holding it would print them.
  readonly #discovery: DiscoveryService;

  constructor(
    discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly verifier: SesameWebhookVerifier,
    private readonly config: SesameConfig,
    @Inject(ApprovalStore) private readonly store: ApprovalStore,
  ) {
    this.#discovery = discovery;
  }

  /** How many @OnApprovalDecision handlers were found at init. */
  get handlerCount(): number {
    return this.handlers.length;
  }

  onModuleInit(): void {
    // Once, at init: every singleton exists by now, and dispatch() stays a plain array walk.
    const handlers = this.discoverHandlers();
    if (handlers.length > 0 && !this.verifier.configured) {
      // Otherwise every decision webhook would be refused at runtime, and the handlers would silently never run.
      throw new SesameConfigError(
        `@OnApprovalDecision handlers need a webhook secret to verify decision webhooks, but none is configured ` +
          `(handlers: ${handlers.map((h) => h.name).join(', ')}): set webhookSecret or SESAME_WEBHOOK_SECRET`,
      );
    }
    this.handlers = handlers;
  }

  /**
   * Calls every handler registered for `payload.action` (and every catch-all handler) and waits for all
   * of them. Resolves with the number of handlers run; if any failed, logs each failure and rejects with
   * an AggregateError of their errors, so the webhook endpoint answers 500 and the broker redelivers.
   */
  async dispatch(payload: ApprovalDecisionPayload): Promise<number> {
    const matching = this.handlers.filter((h) => h.actions === null || h.actions.includes(payload.action));
    const results = await Promise.allSettled(
      // Each handler gets its own copy: one mutating the payload must not change what the others see.
      matching.map(async (handler) => handler.invoke({ ...payload, decidedAt: new Date(payload.decidedAt.getTime()) })),
    );
    const failures: { handler: DecisionHandler; reason: unknown }[] = [];
    results.forEach((result, i) => {
      if (result.status === 'rejected') failures.push({ handler: matching[i], reason: result.reason });
    });
    if (failures.length === 0) return matching.length;

    const about = `the ${payload.status} decision of approval ${payload.approvalId} (${payload.action}, webhook ${payload.webhookId})`;
    for (const { handler, reason } of failures) {
      this.logger.error(`${handler.name} failed on ${about}: ${describe(reason)}`, reason instanceof Error ? reason.stack : undefined);
    }
    throw new AggregateError(
      failures.map((f) => f.reason),
      `${failures.length} of ${matching.length} @OnApprovalDecision handler(s) failed on ${about}: ${failures.map((f) => f.handler.name).join(', ')}`,
    );
  }

  /**
   * dispatch(), at most once per `webhook-id` across every replica sharing the ApprovalStore (what the
   * built-in endpoint calls). The id is claimed first, then the handlers run; on success it is recorded
   * as processed for `webhookIdTtl`; if a handler fails the claim is released and the error rethrown,
   * so the broker's redelivery runs the handlers again. Rejects with ApprovalStoreUnavailableError
   * (nothing ran) when the store is unreachable.
   */
  async dispatchOnce(payload: ApprovalDecisionPayload): Promise<WebhookDispatchResult> {
    const { webhookId } = payload;
    const about = `webhook ${webhookId} (approval ${payload.approvalId}, ${payload.action})`;
    const key = `webhook:${webhookId}`;
    const token = randomUUID();
    const lease = this.config.webhookClaimLease;
    const claim = await this.store.claim(key, token, lease);
    if (claim === 'done') {
      this.logger.log(`Decision ${about} was already processed: no handler runs again`);
      return { status: 'duplicate' };
    }
    if (claim === 'held') {
      this.logger.warn(`Decision ${about} is being processed by another request right now: refused, the broker will redeliver`);
      return { status: 'in_progress' };
    }

    // A handler may outlast the lease: renewing it keeps a redelivery from running the handlers a second time beside it.
    const renewal = keepClaimed(this.store, key, token, lease, (reason) =>
      this.logger.error(`Could not keep the claim on ${about} while its handlers run (${reason}): a redelivery may run them again`),
    );
    let handlers: number;
    try {
      handlers = await this.dispatch(payload);
    } catch (error) {
      renewal.stop();
      await this.store.release(key, token).catch((releaseError: unknown) => {
        this.logger.error(
          `Could not release ${about} after its handlers failed (${describe(releaseError)}): a redelivery runs them once the claim lapses (${lease} ms)`,
        );
      });
      throw error;
    }
    renewal.stop();
    try {
      if (!(await this.store.complete(key, token, this.config.webhookIdTtl))) {
        this.logger.error(`Handlers of ${about} ran, but its claim had lapsed before it was recorded as processed: another delivery may have run them too`);
      }
    } catch (error) {
      // The handlers did run: answering 2xx stops redeliveries, which is the best left to do.
      this.logger.error(
        `Handlers of ${about} ran, but it could not be recorded as processed (${describe(error)}): a redelivery after ${lease} ms would run them again`,
      );
    }
    return { status: 'dispatched', handlers };
  }

  private discoverHandlers(): DecisionHandler[] {
    const handlers: DecisionHandler[] = [];
    // useExisting aliases and re-registrations point at the same instance: register it once.
    const seen = new WeakSet<object>();
    for (const wrapper of [...this.#discovery.getProviders(), ...this.#discovery.getControllers()]) {
      if (wrapper.isAlias) continue;
      const instance: unknown = wrapper.instance;
      const prototype = prototypeOf(wrapper, instance);
      if (!prototype) continue;
      const methods = this.decoratedMethods(prototype);
      if (methods.length === 0) continue;

      const className = (prototype.constructor as { name?: string } | undefined)?.name || String(wrapper.name);
      const names = methods.map(({ key }) => `${className}.${key}()`).join(', ');
      if (!wrapper.isDependencyTreeStatic() || wrapper.isTransient) {
        // Such instances are created per request or per consumer, after init: none of them could be called.
        this.logger.warn(
          `${names}: @OnApprovalDecision is ignored on ${className}, a request-scoped or transient provider (or one depending on one). ` +
            'Move the handler to a singleton provider.',
        );
        continue;
      }
      if (typeof instance !== 'object' || instance === null) {
        this.logger.warn(`${names}: @OnApprovalDecision is ignored: Nest had not created ${className} when the handlers were collected.`);
        continue;
      }
      if (seen.has(instance)) continue;
      seen.add(instance);
      for (const { key, method, metadata } of methods) {
        handlers.push({
          name: `${className}.${key}()`,
          actions: metadata.actions,
          invoke: (payload) => method.call(instance, payload),
        });
      }
    }
    if (handlers.length > 0) {
      this.logger.log(`Decision webhook handlers: ${handlers.map((h) => `${h.name} -> ${h.actions?.join(', ') ?? 'every action'}`).join('; ')}`);
    }
    return handlers;
  }

  private decoratedMethods(prototype: object): { key: string; method: (payload: ApprovalDecisionPayload) => unknown; metadata: OnApprovalDecisionMetadata }[] {
    return this.scanner.getAllMethodNames(prototype).flatMap((key) => {
      const method = (prototype as Record<string, unknown>)[key];
      if (typeof method !== 'function') return [];
      const metadata = this.reflector.get<OnApprovalDecisionMetadata | undefined>(ON_APPROVAL_DECISION_METADATA, method);
      return metadata ? [{ key, method: method as (payload: ApprovalDecisionPayload) => unknown, metadata }] : [];
    });
  }
}

function prototypeOf(wrapper: InstanceWrapper, instance: unknown): object | null {
  if (typeof instance === 'object' && instance !== null) return Object.getPrototypeOf(instance) as object | null;
  // Not created: look at the class, so its handlers can still be named in the warning.
  if (wrapper.isFactory) return null;
  const prototype = (wrapper.metatype as { prototype?: unknown } | null)?.prototype;
  return typeof prototype === 'object' && prototype !== null ? prototype : null;
}

function describe(reason: unknown): string {
  const message = (reason as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(reason);
}
