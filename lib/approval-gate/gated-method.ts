import 'reflect-metadata';
import { ApprovalGateNotBoundError } from '../errors.js';
import { REQUIRE_APPROVAL_METADATA, type RequireApprovalMetadata } from './require-approval.options.js';

/** One call of a gated method, as the gate receives it. */
export interface GatedCall {
  instance: object;
  className: string;
  methodName: string;
  /** The undecorated method. */
  method: (...args: unknown[]) => unknown;
  args: unknown[];
  metadata: RequireApprovalMetadata;
}

/** What a bound instance delegates to: the module's ApprovalGate. */
export interface ApprovalGateRunner {
  run(call: GatedCall): Promise<unknown>;
}

// Symbol.for, not Symbol(): the ESM and CJS builds of this package must agree on the keys when both are loaded.
const GATE_BINDING = Symbol.for('nestjs-sesame.approval-gate');
const ORIGINAL_METHOD = Symbol.for('nestjs-sesame.original-method');

type AnyMethod = (...args: unknown[]) => unknown;

/**
 * Replaces a method with one that asks the instance's bound gate first. The binding lives on the
 * instance (set by the module at init), so two apps in one process never share a gate, and an
 * unbound instance fails closed instead of running ungated.
 */
export function createGatedMethod(original: AnyMethod, methodName: string, metadata: RequireApprovalMetadata): AnyMethod {
  const gated = function (this: object, ...args: unknown[]): Promise<unknown> {
    const className = (this as { constructor?: { name?: string } } | undefined)?.constructor?.name ?? 'anonymous';
    const gate = this === undefined || this === null ? undefined : (this as Record<symbol, ApprovalGateRunner | undefined>)[GATE_BINDING];
    if (!gate) return Promise.reject(new ApprovalGateNotBoundError(className, methodName));
    return gate.run({ instance: this, className, methodName, method: original, args, metadata });
  };
  // Route paths, guards, roles, Swagger: whatever decorators below this one recorded must stay readable on the replacement.
  for (const key of Reflect.getOwnMetadataKeys(original)) {
    Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, original), gated);
  }
  Object.defineProperty(gated, 'name', { value: original.name });
  Object.defineProperty(gated, ORIGINAL_METHOD, { value: original });
  return gated;
}

export function isGatedMethod(fn: unknown): boolean {
  return typeof fn === 'function' && ORIGINAL_METHOD in fn;
}

/** Binds a gate to an instance, so its gated methods can run (after approval). */
export function bindApprovalGate(instance: object, gate: ApprovalGateRunner): void {
  Object.defineProperty(instance, GATE_BINDING, { value: gate, configurable: true, enumerable: false, writable: false });
}

/** True when the instance's class (or a parent class) has at least one gated method. */
export function hasGatedMethods(instance: object): boolean {
  return gatedMethodsOf(instance).length > 0;
}

/** The gated methods of the instance's class and its parent classes, with what @RequireApproval recorded. */
export function gatedMethodsOf(instance: object): { name: string; metadata: RequireApprovalMetadata }[] {
  const found: { name: string; metadata: RequireApprovalMetadata }[] = [];
  for (let proto = Object.getPrototypeOf(instance); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const descriptor = Object.getOwnPropertyDescriptor(proto, name);
      if (!descriptor || !isGatedMethod(descriptor.value)) continue;
      const metadata = Reflect.getMetadata(REQUIRE_APPROVAL_METADATA, descriptor.value) as RequireApprovalMetadata | undefined;
      if (metadata) found.push({ name, metadata });
    }
  }
  return found;
}
