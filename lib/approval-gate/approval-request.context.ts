import { AsyncLocalStorage } from 'node:async_hooks';
import { Injectable } from '@nestjs/common';
import { ApprovalAborted } from '../errors.js';
import { ApprovalBindingError } from './approval-gate.errors.js';
import type { GatedCall } from './gated-method.js';

/** The parts of a Node ServerResponse we watch (Express `res`, Fastify `reply.raw`). */
interface WatchedResponse {
  writableEnded: boolean;
  destroyed?: boolean;
  once(event: 'close', listener: () => void): unknown;
}

/** The request as the gate reads it: Express and Fastify requests both fit. */
export interface ApprovalHttpRequest {
  headers: Record<string, string | string[] | undefined>;
  /** Set by authentication (Passport and most guards): the requester an async approval is bound to. */
  user?: unknown;
}

/**
 * The HTTP request a gated call runs for: its signal aborts when the client disconnects, and async
 * mode reads the request (approval id header, user) from it.
 */
export class HttpApprovalScope {
  #controller?: AbortController;
  /** Set once the route's own gate took this scope (see ApprovalRequestContext.scopeFor). */
  #taken = false;
  /** Set when the route's handler finished: whatever runs in this context afterwards is not this request's. */
  #settled = false;

  constructor(
    private readonly response: WatchedResponse,
    /** The framework's request object (Express `req`, Fastify `request`); undefined when unknown. */
    readonly request?: ApprovalHttpRequest,
    /** The route handler (its undecorated method) this scope was entered for. */
    readonly handler?: unknown,
  ) {}

  /** The response was sent or its connection is gone: code still running in this context outlived the request. */
  get ended(): boolean {
    return this.response.writableEnded || this.clientGone;
  }

  /** The connection closed before a response was sent. */
  get clientGone(): boolean {
    return this.response.destroyed === true && !this.response.writableEnded;
  }

  /** The handler finished (set by the interceptor before any outer interceptor sees it). */
  settle(): void {
    this.#settled = true;
  }

  get settled(): boolean {
    return this.#settled;
  }

  /** Takes the scope for the route's own gate; false when it was taken before. */
  take(): boolean {
    if (this.#taken) return false;
    this.#taken = true;
    return true;
  }

  /** Created on first use, so requests that never reach a gate pay nothing. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      const controller = (this.#controller = new AbortController());
      const onClose = () => {
        if (!this.response.writableEnded) controller.abort(new Error('HTTP client disconnected'));
      };
      if (this.response.destroyed) onClose();
      else this.response.once('close', onClose);
    }
    return this.#controller.signal;
  }
}

/**
 * Carries the current HTTP request from the interceptor to the gate. Pipes run after interceptors,
 * so the gate runs inside the handler call (with validated arguments) and finds its request here.
 * One store per module instance: apps in one process never see each other's requests.
 */
@Injectable()
export class ApprovalRequestContext {
  private readonly storage = new AsyncLocalStorage<HttpApprovalScope>();

  run<T>(scope: HttpApprovalScope, fn: () => T): T {
    return this.storage.run(scope, fn);
  }

  /** The scope of the async context we are in; undefined outside a request. */
  current(): HttpApprovalScope | undefined {
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
   */
  scopeFor(call: GatedCall): HttpApprovalScope | undefined {
    const scope = this.storage.getStore();
    if (!scope) return undefined;
    const ownRoute = scope.handler === call.method;
    if (!ownRoute && !call.route) {
      // Work a finished request left behind (a timer, a queue it kicked) is not that request's: it runs as outside any.
      return scope.ended || scope.settled ? undefined : scope;
    }
    if (ownRoute && scope.clientGone) throw new ApprovalAborted(undefined, new Error('HTTP client disconnected'));
    if (!ownRoute || scope.ended || scope.settled || !scope.take()) {
      throw new ApprovalBindingError(
        call.className,
        call.methodName,
        'it is a route handler running in the async context of another request, or of one that already ran it (a handler carried into it by a ' +
          'callback queue that does not keep async context, a retried handler, a route method called as a function), so it cannot tell which request it runs for',
      );
    }
    return scope;
  }

  /** A scope for this request and route handler, or undefined when the response is not a Node response. */
  static scopeFor(response: unknown, request: unknown, handler: unknown): HttpApprovalScope | undefined {
    const raw = (response as { raw?: unknown } | undefined)?.raw ?? response;
    if (!raw || typeof (raw as WatchedResponse).once !== 'function') return undefined;
    const headers = (request as { headers?: unknown } | undefined)?.headers;
    const http = typeof headers === 'object' && headers !== null ? (request as ApprovalHttpRequest) : undefined;
    return new HttpApprovalScope(raw as WatchedResponse, http, handler);
  }
}
