import 'reflect-metadata';
import { ApprovalGateNotBoundError } from '../errors.js';
import { REQUIRE_APPROVAL_METADATA, SKIP_APPROVAL_METADATA, type RequireApprovalMetadata } from './require-approval.options.js';

// Nest calls these itself; gating them would block bootstrap and shutdown.
export const LIFECYCLE_HOOKS: ReadonlySet<string | symbol> = new Set([
  'constructor',
  'onModuleInit',
  'onApplicationBootstrap',
  'onModuleDestroy',
  'beforeApplicationShutdown',
  'onApplicationShutdown',
]);

/** One call of a gated method, as the gate receives it. */
export interface GatedCall {
  instance: object;
  className: string;
  methodName: string;
  /** The undecorated method. */
  method: (...args: unknown[]) => unknown;
  args: unknown[];
  metadata: RequireApprovalMetadata;
  /**
   * True when Nest calls the method from a transport: an HTTP route, a GraphQL resolver, a message or
   * event pattern, a socket message handler (a handler's own gate: see ApprovalRequestContext.scopeFor).
   */
  route?: boolean;
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
    return gate.run({ instance: this, className, methodName, method: original, args, metadata, route: isRouteHandler(gated) });
  };
  // Route paths, guards, roles, Swagger: whatever decorators below this one recorded must stay readable on the replacement.
  for (const key of Reflect.getOwnMetadataKeys(original)) {
    Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, original), gated);
  }
  Object.defineProperty(gated, 'name', { value: original.name });
  Object.defineProperty(gated, ORIGINAL_METHOD, { value: original });
  return gated;
}

/** The undecorated method behind a gated one (what GatedCall.method is); any other function as is. */
export function originalMethodOf(fn: unknown): unknown {
  return typeof fn === 'function' && ORIGINAL_METHOD in fn ? (fn as unknown as Record<symbol, unknown>)[ORIGINAL_METHOD] : fn;
}

/**
 * The metadata keys Nest's handler decorators set: @Get()/@Post()... (PATH_METADATA), @Query()/@Mutation()
 * /@ResolveField() (graphql), @MessagePattern()/@EventPattern() (microservices), @SubscribeMessage()
 * (websockets). Spelled out: those packages are optional, and their roots do not export all of them.
 */
const HANDLER_METADATA_KEYS = ['path', 'graphql:resolver_type', 'graphql:resolve_property', 'microservices:pattern', 'websockets:message_mapping'];

function isRouteHandler(fn: object): boolean {
  return HANDLER_METADATA_KEYS.some((key) => Reflect.hasMetadata(key, fn));
}

export function isGatedMethod(fn: unknown): boolean {
  return typeof fn === 'function' && ORIGINAL_METHOD in fn;
}

/** Binds a gate to an instance, so its gated methods can run (after approval). */
export function bindApprovalGate(instance: object, gate: ApprovalGateRunner): void {
  Object.defineProperty(instance, GATE_BINDING, { value: gate, configurable: true, enumerable: false, writable: false });
}

/** How a method key reads in messages and approval summaries: `refund`, or `[Symbol(purge)]`. */
export function methodLabel(key: string | symbol): string {
  return typeof key === 'symbol' ? `[${String(key)}]` : key;
}

export function isSkippedMethod(fn: unknown): boolean {
  return typeof fn === 'function' && Reflect.getMetadata(SKIP_APPROVAL_METADATA, fn) === true;
}

/** True when the instance's class (or a parent class) has at least one gated method. */
export function hasGatedMethods(instance: object): boolean {
  return gatedMethodsOf(instance).length > 0;
}

/**
 * The gated methods of the instance's class and its parent classes (string and symbol keys), with
 * what @RequireApproval recorded. Shadowed ones are listed too: an override may still call `super`.
 */
export function gatedMethodsOf(instance: object): { key: string | symbol; name: string; metadata: RequireApprovalMetadata }[] {
  const found: { key: string | symbol; name: string; metadata: RequireApprovalMetadata }[] = [];
  for (const proto of prototypeChain(instance)) {
    for (const key of Reflect.ownKeys(proto)) {
      const descriptor = Object.getOwnPropertyDescriptor(proto, key);
      if (!descriptor || !isGatedMethod(descriptor.value)) continue;
      const metadata = Reflect.getMetadata(REQUIRE_APPROVAL_METADATA, descriptor.value as object) as RequireApprovalMetadata | undefined;
      if (metadata) found.push({ key, name: methodLabel(key), metadata });
    }
  }
  return found;
}

/**
 * Methods the instance would run without approval although they should be gated: everything not
 * gated or @SkipApproval when the class or a parent class carries a class-level @RequireApproval
 * (a subclass inherits that intent, like Nest's class metadata), and any override of a gated method.
 * Catches what the decorator cannot see at definition time: undecorated subclasses, methods added later.
 * Accessors are not methods and are left alone.
 */
export function ungatedMethodsOf(instance: object): string[] {
  const chain = prototypeChain(instance);
  const classGated = chain.some(
    (proto) => Object.hasOwn(proto, 'constructor') && Reflect.hasOwnMetadata(REQUIRE_APPROVAL_METADATA, (proto as { constructor: object }).constructor),
  );
  const seen = new Set<string | symbol>();
  const missing: string[] = [];
  chain.forEach((proto, depth) => {
    for (const key of Reflect.ownKeys(proto)) {
      if (seen.has(key)) continue; // shadowed by a closer class: that one is what runs
      seen.add(key);
      if (LIFECYCLE_HOOKS.has(key)) continue;
      const { value } = Object.getOwnPropertyDescriptor(proto, key)!;
      if (typeof value !== 'function' || isGatedMethod(value) || isSkippedMethod(value)) continue;
      const overridesGated = chain.slice(depth + 1).some((above) => isGatedMethod(Object.getOwnPropertyDescriptor(above, key)?.value));
      if (classGated || overridesGated) missing.push(methodLabel(key));
    }
  });
  return missing;
}

/** The instance's prototypes, closest first, up to (not including) Object.prototype. */
function prototypeChain(instance: object): object[] {
  const chain: object[] = [];
  for (let proto: unknown = Object.getPrototypeOf(instance); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    chain.push(proto as object);
  }
  return chain;
}
