import { Inject, Injectable, Optional, type OnModuleInit, type Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { SesameConfigError } from '../errors.js';
import type { ApprovalPolicy } from './approval-policy.js';

/** The policy class SesameModule was given (`forRoot({ policy })`). */
export const APPROVAL_POLICY_CLASS = Symbol('nestjs-sesame.approval-policy-class');

/**
 * Resolves the app's ApprovalPolicy at init, once every provider exists: the app's own instance when
 * the class is a provider anywhere in it (with that module's dependencies), else one created in
 * SesameModule's scope. Until then, and when resolving failed, a configured policy is `unresolved`
 * and the gate runs nothing.
 */
@Injectable()
export class ApprovalPolicyHost implements OnModuleInit {
  #policy: ApprovalPolicy | undefined;
  // #private: ModuleRef reaches the whole container (the module's options and API key among them).
  readonly #moduleRef: ModuleRef;

  constructor(
    moduleRef: ModuleRef,
    @Optional() @Inject(APPROVAL_POLICY_CLASS) private readonly policyClass?: Type<ApprovalPolicy>,
  ) {
    this.#moduleRef = moduleRef;
  }

  /** True when a policy is configured but not (yet) resolved. */
  get unresolved(): boolean {
    return this.policyClass !== undefined && this.#policy === undefined;
  }

  get policy(): ApprovalPolicy | undefined {
    return this.#policy;
  }

  async onModuleInit(): Promise<void> {
    const policyClass = this.policyClass;
    if (policyClass === undefined) return;
    let policy: ApprovalPolicy | undefined;
    try {
      policy = this.#moduleRef.get(policyClass, { strict: false });
    } catch {
      // Not a provider of the app: created here, its dependencies resolved from SesameModule's imports and global providers.
      policy = await this.#moduleRef.create(policyClass);
    }
    if (typeof policy?.evaluate !== 'function') {
      throw new SesameConfigError(`SesameModule: policy ${policyClass.name} has no evaluate(call) method (implement ApprovalPolicy)`);
    }
    this.#policy = policy;
  }
}
