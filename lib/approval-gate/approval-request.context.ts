import { AsyncLocalStorage } from 'node:async_hooks';
import { Injectable } from '@nestjs/common';

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

  constructor(
    private readonly response: WatchedResponse,
    /** The framework's request object (Express `req`, Fastify `request`); undefined when unknown. */
    readonly request?: ApprovalHttpRequest,
  ) {}

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

  /** Aborts when the current HTTP client goes away; undefined outside a request. */
  currentSignal(): AbortSignal | undefined {
    return this.storage.getStore()?.signal;
  }

  /** The HTTP request being handled; undefined outside one. */
  current(): HttpApprovalScope | undefined {
    return this.storage.getStore();
  }

  static scopeFor(response: unknown, request?: unknown): HttpApprovalScope | undefined {
    const raw = (response as { raw?: unknown } | undefined)?.raw ?? response;
    if (!raw || typeof (raw as WatchedResponse).once !== 'function') return undefined;
    const headers = (request as { headers?: unknown } | undefined)?.headers;
    const http = typeof headers === 'object' && headers !== null ? (request as ApprovalHttpRequest) : undefined;
    return new HttpApprovalScope(raw as WatchedResponse, http);
  }
}
