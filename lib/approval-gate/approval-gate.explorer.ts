import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { ApprovalStoreHost } from '../approval-store/approval-store.host.js';
import { SesameConfigError } from '../errors.js';
import { ApprovalGate } from './approval-gate.js';
import { DeferredApprovals } from './deferred/deferred-approvals.js';
import { bindApprovalGate, gatedMethodsOf, ungatedMethodsOf } from './gated-method.js';

/**
 * Binds this app's gate to every provider and controller instance that has @RequireApproval methods,
 * and refuses to boot when an instance has a method that should be gated but is not (see ungatedMethodsOf).
 */
@Injectable()
export class ApprovalGateExplorer implements OnModuleInit {
  private readonly logger = new Logger('SesameApproval');

  // #private: DiscoveryService reaches the whole module container (the module's options, API key
  // and store URL among them), so a deep util.inspect of a field holding it would print them.
  readonly #discovery: DiscoveryService;

  constructor(
    discovery: DiscoveryService,
    private readonly gate: ApprovalGate,
    private readonly storeHost: ApprovalStoreHost,
    private readonly deferred: DeferredApprovals,
  ) {
    this.#discovery = discovery;
  }

  async onModuleInit(): Promise<void> {
    this.bindGates();
    // Fails the boot when bullmq is not installed, rather than the first job.
    await this.deferred.ready();
  }

  private bindGates(): void {
    const asyncMethods: string[] = [];
    const misplacedDeferred: string[] = [];
    const deferredProcessors: string[] = [];
    const messageHandlers: string[] = [];
    const ungated = new Set<string>();
    // An approval is bound to `Class.method` by name: two gated classes of one name (users v1 and v2)
    // would accept each other's approvals, so such an app does not boot.
    const classesByName = new Map<string, unknown>();
    const sameName = new Set<string>();
    for (const wrapper of [...this.#discovery.getProviders(), ...this.#discovery.getControllers()]) {
      const instance: unknown = wrapper.instance;
      if (!instance || typeof instance !== 'object') continue;
      if (isBullmqQueue(instance)) this.deferred.registerQueue(instance);
      const className = (instance as { constructor?: { name?: string } }).constructor?.name || String(wrapper.name);
      for (const name of ungatedMethodsOf(instance)) ungated.add(`${className}.${name}()`);
      const gated = gatedMethodsOf(instance);
      if (gated.length === 0) continue;
      const constructor = (instance as { constructor?: unknown }).constructor;
      if (classesByName.has(className) && classesByName.get(className) !== constructor) sameName.add(className);
      classesByName.set(className, constructor);
      for (const { key, name, metadata } of gated) {
        if (metadata.mode === 'deferred') {
          if (key !== 'process' || !isBullmqProcessor(constructor)) misplacedDeferred.push(`${className}.${name}()`);
          else if (wrapper.isDependencyTreeStatic()) {
            this.deferred.register(instance);
            deferredProcessors.push(`${className}.${name}()`);
          }
        }
        if (metadata.mode === 'async') asyncMethods.push(`${String(wrapper.name)}.${name}()`);
        if (isMessageHandler((instance as Record<string | symbol, unknown>)[key])) messageHandlers.push(`${String(wrapper.name)}.${name}()`);
      }
      if (!wrapper.isDependencyTreeStatic()) {
        // Instances created per request never pass through here: say so instead of letting calls fail mysteriously.
        this.logger.warn(
          `${wrapper.name} is request-scoped or transient: its @RequireApproval methods are not bound and will fail closed. ` +
            'Move the gated methods to a singleton provider.',
        );
        continue;
      }
      bindApprovalGate(instance, this.gate);
    }
    if (ungated.size > 0) {
      // Routes are already registered by now, so re-gating here would miss them: refuse to boot instead.
      throw new SesameConfigError(
        `These methods would run without approval: ${[...ungated].join(', ')}. Each overrides a gated method, or belongs to a class ` +
          'whose class or parent class has a class-level @RequireApproval. Decorate the method or its class with @RequireApproval, ' +
          'or mark the method @SkipApproval() to run it without approval on purpose.',
      );
    }
    if (sameName.size > 0) {
      throw new SesameConfigError(
        `Several classes with gated methods are named ${[...sameName].join(', ')}: approvals are bound to Class.method by name, ` +
          'so one could run the other. Give each gated class its own name.',
      );
    }
    if (misplacedDeferred.length > 0) {
      throw new SesameConfigError(
        `${misplacedDeferred.join(', ')} use mode 'deferred', which applies only to the process(job) method of a BullMQ processor ` +
          "(a class with @nestjs/bullmq's @Processor() extending WorkerHost). Gate the processor's process(job) with mode 'deferred', " +
          "or use mode 'blocking' (holds the caller, or the worker, while the human decides) or 'async' (HTTP and GraphQL) here.",
      );
    }
    if (deferredProcessors.length > 0 && this.storeHost.defaulted) {
      // Deferred jobs outlive the process: single use kept in its memory would be forgotten by a restart, and a stalled job run again.
      throw new SesameConfigError(
        `${deferredProcessors.join(', ')} use mode 'deferred', whose jobs outlive this process, with the default in-memory approval store. ` +
          "Configure store: { type: 'redis', url } (the single use must outlive the process and be shared by every worker), " +
          "or set store: { type: 'memory' } to confirm one process that never restarts (development).",
      );
    }
    if (messageHandlers.length > 0 && this.storeHost.defaulted) {
      // Redis pub/sub, NATS and MQTT hand one message to every subscribed instance: each would take the single use in its own memory.
      this.logger.warn(
        `${messageHandlers.join(', ')} are gated microservice handlers with the default in-memory approval store: a transport that delivers a message to ` +
          "several instances (Redis pub/sub, NATS, MQTT) runs an approved call once per instance. Configure store: { type: 'redis', url }; " +
          "set store: { type: 'memory' } to confirm a single instance.",
      );
    }
    if (asyncMethods.length > 0 && this.storeHost.defaulted) {
      // Fine on one process; with replicas or restarts, single use would silently hold per process only.
      this.logger.warn(
        `${asyncMethods.join(', ')} use mode 'async' with the default in-memory approval store: an approval is single-use within this process only. ` +
          "With several replicas, or across restarts, configure store: { type: 'redis', url }; set store: { type: 'memory' } to confirm one process.",
      );
    }
  }
}

/** A BullMQ Queue provider (duck-typed: bullmq is an optional peer, not loaded to recognise one). */
function isBullmqQueue(instance: object): boolean {
  const queue = instance as { constructor?: { name?: string }; qualifiedName?: unknown; getJob?: unknown; add?: unknown };
  return queue.constructor?.name === 'Queue' && typeof queue.qualifiedName === 'string' && typeof queue.getJob === 'function' && typeof queue.add === 'function';
}

/** A class with @nestjs/bullmq's @Processor() (its PROCESSOR_METADATA, spelled out: the package is optional). */
function isBullmqProcessor(constructor: unknown): boolean {
  return typeof constructor === 'function' && Reflect.hasMetadata('bullmq:processor_metadata', constructor);
}

/** @MessagePattern() / @EventPattern() handlers (@nestjs/microservices' PATTERN_METADATA, spelled out: the package is optional). */
function isMessageHandler(method: unknown): boolean {
  return typeof method === 'function' && Reflect.hasMetadata('microservices:pattern', method);
}
