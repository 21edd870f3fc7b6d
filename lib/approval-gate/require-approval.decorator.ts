import { UseFilters, UseInterceptors } from '@nestjs/common';
import { SesameConfigError } from '../errors.js';
import { documentApprovalAnswers } from './approval-api-docs.js';
import { ApprovalExceptionFilter } from './approval-exception.filter.js';
import { ApprovalGateInterceptor } from './approval-gate.interceptor.js';
import { createGatedMethod, isGatedMethod, isSkippedMethod, LIFECYCLE_HOOKS, methodLabel } from './gated-method.js';
import { REQUIRE_APPROVAL_METADATA, SKIP_APPROVAL_METADATA, type RequireApprovalMetadata, type RequireApprovalOptions } from './require-approval.options.js';

/**
 * Lets the method run only after a human approved it: on controller routes (after guards and pipes,
 * with the validated arguments) and on plain provider methods. On a class, gates every method the class
 * has or inherits (string and symbol keys), except lifecycle hooks, @SkipApproval methods, methods
 * already gated by their own @RequireApproval, and accessors (getters and setters are not gated).
 * Subclasses count as gated too: at bootstrap, an undecorated subclass's new or overriding method
 * (or any override of a gated method) fails the boot with a SesameConfigError naming it.
 * The gated method always returns a Promise.
 *
 * `mode: 'async'` (HTTP and GraphQL) does not hold the request: it answers `202` (GraphQL: an
 * `APPROVAL_PENDING` error) with the approval id, and the client repeats the request with the
 * `Sesame-Approval-Id` header; the approval then runs this exact request (same action, arguments and
 * user) once. See docs/deploying.md. `when` decides per call whether a human is asked at all.
 */
export function RequireApproval(action: string, options: RequireApprovalOptions = {}): MethodDecorator & ClassDecorator {
  if (typeof action !== 'string' || action.trim() === '') {
    throw new SesameConfigError('@RequireApproval(action): action must be a non-empty string such as "payments.refund"');
  }
  if (options.mode !== undefined && options.mode !== 'blocking' && options.mode !== 'async' && options.mode !== 'deferred') {
    throw new SesameConfigError(`@RequireApproval('${action}'): mode must be 'blocking', 'async' or 'deferred'`);
  }
  if (options.when !== undefined && typeof options.when !== 'function') {
    throw new SesameConfigError(`@RequireApproval('${action}'): when must be a function of the method's arguments returning true (ask a human) or false (run at once)`);
  }
  if (options.mode === 'async' && options.dedupKey !== undefined) {
    throw new SesameConfigError(`@RequireApproval('${action}'): dedupKey cannot be set with mode 'async', which derives it from the action, the arguments and the user`);
  }
  if (options.mode === 'deferred' && options.dedupKey !== undefined) {
    throw new SesameConfigError(`@RequireApproval('${action}'): dedupKey cannot be set with mode 'deferred', which derives it from the queue, the job and its data`);
  }
  if (options.recheckInterval !== undefined && options.mode !== 'deferred') {
    throw new SesameConfigError(`@RequireApproval('${action}'): recheckInterval applies to mode 'deferred' only`);
  }
  for (const key of ['timeout', 'expiresIn', 'retryAfter', 'recheckInterval'] as const) {
    const value = options[key];
    if (value !== undefined && (!Number.isInteger(value) || value <= 0)) {
      throw new SesameConfigError(`@RequireApproval('${action}'): ${key} must be a positive integer of milliseconds`);
    }
  }
  const metadata: RequireApprovalMetadata = { ...options, action };

  return ((target: object, propertyKey?: string | symbol, descriptor?: PropertyDescriptor) => {
    if (descriptor) {
      if (typeof descriptor.value !== 'function') {
        throw new SesameConfigError(`@RequireApproval('${action}') applies to methods, not accessors (${String(propertyKey)})`);
      }
      descriptor.value = gated(descriptor.value as AnyMethod, propertyKey!, metadata);
      return descriptor;
    }
    if (propertyKey !== undefined) {
      // A property decorator gets no descriptor, so there is nothing to gate: say so rather than ignore it.
      throw new SesameConfigError(`@RequireApproval('${action}') applies to methods and classes, not properties (${methodLabel(propertyKey)})`);
    }
    Reflect.defineMetadata(REQUIRE_APPROVAL_METADATA, metadata, target);
    gateClassMethods((target as { prototype: object }).prototype, metadata);
    return undefined;
  }) as MethodDecorator & ClassDecorator;
}

/** Exempts a method from a class-level @RequireApproval. */
export function SkipApproval(): MethodDecorator {
  return (_target, _key, descriptor) => {
    Reflect.defineMetadata(SKIP_APPROVAL_METADATA, true, descriptor.value as object);
    return descriptor;
  };
}

type AnyMethod = (...args: unknown[]) => unknown;

/**
 * The gated replacement of a method, with its metadata, and ApprovalGateInterceptor and
 * ApprovalExceptionFilter as its own: used as a handler (a route, resolver, message or socket handler),
 * only this handler runs them (ungated ones pay nothing for the gate), and its outcomes are answered on
 * its transport even where the app-wide filter does not reach (a hybrid app's microservice).
 */
function gated(method: AnyMethod, key: string | symbol, metadata: RequireApprovalMetadata): AnyMethod {
  const replacement = createGatedMethod(method, methodLabel(key), metadata);
  Reflect.defineMetadata(REQUIRE_APPROVAL_METADATA, metadata, replacement);
  UseInterceptors(ApprovalGateInterceptor)(replacement, key, { value: replacement });
  UseFilters(ApprovalExceptionFilter)(replacement, key, { value: replacement });
  documentApprovalAnswers(replacement, metadata);
  return replacement;
}

function gateClassMethods(prototype: object, metadata: RequireApprovalMetadata): void {
  const seen = new Set<string | symbol>();
  for (let proto: unknown = prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const key of Reflect.ownKeys(proto as object)) {
      if (seen.has(key)) continue; // a closer class overrides it: that one is what runs
      seen.add(key);
      if (LIFECYCLE_HOOKS.has(key)) continue;
      const descriptor = Object.getOwnPropertyDescriptor(proto, key)!;
      // Accessors are left alone; a method's own @RequireApproval wins over the class's.
      if (typeof descriptor.value !== 'function' || isGatedMethod(descriptor.value) || isSkippedMethod(descriptor.value)) continue;
      // Always on this class's own prototype: an inherited method lives on a base prototype that
      // undecorated sibling classes share. Nest resolves routes through the chain, so it finds this one first.
      Object.defineProperty(prototype, key, { ...descriptor, value: gated(descriptor.value as AnyMethod, key, metadata) });
    }
  }
}
