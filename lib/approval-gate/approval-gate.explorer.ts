import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { ApprovalGate } from './approval-gate.js';
import { bindApprovalGate, hasGatedMethods } from './gated-method.js';

/** Binds this app's gate to every provider and controller instance that has @RequireApproval methods. */
@Injectable()
export class ApprovalGateExplorer implements OnModuleInit {
  private readonly logger = new Logger('SesameApproval');

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly gate: ApprovalGate,
  ) {}

  onModuleInit(): void {
    for (const wrapper of [...this.discovery.getProviders(), ...this.discovery.getControllers()]) {
      const instance: unknown = wrapper.instance;
      if (!instance || typeof instance !== 'object' || !hasGatedMethods(instance)) continue;
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
  }
}
