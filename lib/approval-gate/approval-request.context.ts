import { AsyncLocalStorage } from 'node:async_hooks';
import { Injectable } from '@nestjs/common';
import { ApprovalAborted } from '../errors.js';
import { ApprovalHandlerContextError } from './approval-gate.errors.js';
import type { ApprovalScope } from './approval-scope.js';
import type { GatedCall } from './gated-method.js';

/**
 * Carries the current handler call (HTTP request, GraphQL field, message, socket event) from the
 * interceptor to the gate. Pipes run after interceptors, so the gate runs inside the handler call
 * (with validated arguments) and finds its scope here. One store per module instance: apps in one
 * process never see each other's calls.
 */
const UNSCOPED_HANDLER =
  'is a handler (a route, resolver, message or socket handler) that Nest ran without its interceptors, or that was called as a function: it cannot tell ' +
  "whom it runs for (a @ResolveField needs GraphQLModule.forRoot({ fieldResolverEnhancers: ['interceptors', 'filters'] }); other code should call a gated service method)";
const FOREIGN_CONTEXT =
  'is a handler running in the async context of another call, or of one that already ran it (a handler carried into it by a callback queue that does not ' +
  'keep async context, a retried handler, a handler method called as a function): it cannot tell which call it runs for';

/**
 * Before Node 24, an AsyncLocalStorage that ran once keeps async hooks on for the whole process until it is
 * disabled: every later request, gated or not, paid for it (an ungated GraphQL resolver 0.82x, a socket
 * handler 0.78x after one gated call, BENCHMARKS.md). Node 24 carries context in frames and needs nothing.
 */
const HOOKS_STAY_ON = Number(process.versions.node.split('.')[0]) < 24;

@Injectable()
export class ApprovalRequestContext {
  private readonly storage = new AsyncLocalStorage<ApprovalScope>();
  /** Handler calls between entering their scope and settling. */
  #open = 0;

  /**
   * Runs `fn` in the scope, which stays open until `close()` (the handler settled): when the last open scope
   * closes, the storage is disabled, so with no gated call in flight Node's async hooks are off again.
   * Work a closed scope left behind then finds no scope (it runs as outside any, as for a settled scope).
   */
  open<T>(scope: ApprovalScope, fn: (close: () => void) => T): T {
    this.#open++;
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      if (--this.#open === 0 && HOOKS_STAY_ON) this.storage.disable();
    };
    try {
      return this.storage.run(scope, fn, close);
    } catch (error) {
      close();
      throw error;
    }
  }

  /**
   * Runs `fn` (a gated method's body) in the scope, held open until what it returns settles: gated service
   * calls in the body find their request, and the hold keeps the storage enabled meanwhile.
   */
  runHeld<T>(scope: ApprovalScope, fn: () => T): T {
    return this.open(scope, (close) => {
      const result = fn();
      if (isPromiseLike(result)) result.then(close, close);
      else close();
      return result;
    });
  }

  /** Holds on scopes now: handlers entered and not yet settled, or past their gate; gated bodies running. */
  get openCount(): number {
    return this.#open;
  }

  /** The scope of the async context we are in; undefined outside a request. */
  current(): ApprovalScope | undefined {
    return this.storage.getStore();
  }

  /**
   * The request a gated call runs for, or undefined outside any. Async context follows callbacks, so
   * code can run in the context of a request that is not its own: a callback queue that runs one
   * request's handler where another's finished, a timer a request left behind. A gated call then
   * would be bound to the other request's user and approval id. So:
   * - code in the context of a request whose handler finished, or whose response ended (a timer it left
   *   behind, another request's handler started from its completion), runs as outside any request;
   * - a route's own gate takes its scope once, while the handler runs: a second gated run of that route
   *   in one request's context (another request's handler carried into it, or a retried handler) does not
   *   run, and a route never uses the scope of another route's request.
   * Work carried into a request whose handler is still running (that handler draining another request's
   * queue) cannot be told apart by async context: it is bound to that request (documented).
   * A handler with no scope at all was run without the gate's interceptor (a @ResolveField without
   * GraphQLModule's `fieldResolverEnhancers`, a route method called as a function): it does not run.
   * "Route" is any handler Nest calls from a transport: an HTTP route, a resolver, a message or event
   * pattern, a socket message handler (GatedCall.route).
   */
  scopeFor(call: GatedCall): ApprovalScope | undefined {
    const scope = this.storage.getStore();
    if (!scope) {
      // Nest runs every handler of a known transport through the gate's interceptor, which enters a scope: a handler
      // outside any was run without it, so who it runs for is unknown.
      if (call.route) throw new ApprovalHandlerContextError(call.className, call.methodName, UNSCOPED_HANDLER);
      return undefined;
    }
    const ownRoute = scope.handler === call.method;
    if (!ownRoute && !call.route) {
      // Work a finished request left behind (a timer, a queue it kicked) is not that request's: it runs as outside any.
      return scope.ended || scope.settled ? undefined : scope;
    }
    if (ownRoute && scope.clientGone) throw new ApprovalAborted(undefined, scope.disconnected());
    if (!ownRoute || scope.ended || scope.settled || !scope.take()) {
      throw new ApprovalHandlerContextError(call.className, call.methodName, FOREIGN_CONTEXT);
    }
    return scope;
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
