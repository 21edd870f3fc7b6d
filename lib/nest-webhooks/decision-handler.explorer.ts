import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { SesameConfigError } from '../errors.js';
import type { ApprovalDecisionPayload } from '../webhooks/webhook-payload.js';
import { ON_APPROVAL_DECISION_METADATA, type OnApprovalDecisionMetadata } from './on-approval-decision.decorator.js';
import { SesameWebhookVerifier } from './sesame-webhook.verifier.js';

/** One @OnApprovalDecision method of one instance. */
export interface DecisionHandler {
  /** `ClassName.method()`, for logs and errors. */
  readonly name: string;
  /** null: every decision. */
  readonly actions: readonly string[] | null;
  readonly invoke: (payload: ApprovalDecisionPayload) => unknown;
}

type InstanceWrapper = ReturnType<DiscoveryService['getProviders']>[number];

/**
 * Finds this app's @OnApprovalDecision methods once, at init (every singleton exists by then), and
 * refuses to boot when there are handlers but no webhook secret to verify their webhooks with.
 * ApprovalDecisionDispatcher runs them.
 */
@Injectable()
export class DecisionHandlerExplorer implements OnModuleInit {
  private readonly logger = new Logger('SesameWebhook');
  #handlers: readonly DecisionHandler[] = [];

  // #private: DiscoveryService reaches the whole module container (the module's options, API key and
  // store URL among them), so a deep util.inspect of a field holding it would print them.
  readonly #discovery: DiscoveryService;

  constructor(
    discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly verifier: SesameWebhookVerifier,
  ) {
    this.#discovery = discovery;
  }

  get handlers(): readonly DecisionHandler[] {
    return this.#handlers;
  }

  onModuleInit(): void {
    const handlers = this.discoverHandlers();
    if (handlers.length > 0 && !this.verifier.configured) {
      // Otherwise every decision webhook would be refused at runtime, and the handlers would silently never run.
      throw new SesameConfigError(
        `@OnApprovalDecision handlers need a webhook secret to verify decision webhooks, but none is configured ` +
          `(handlers: ${handlers.map((h) => h.name).join(', ')}): set webhookSecret or SESAME_WEBHOOK_SECRET`,
      );
    }
    this.#handlers = handlers;
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
