import { AsyncLocalStorage } from 'node:async_hooks';
import { Injectable } from '@nestjs/common';

/** The parts of a Node ServerResponse we watch (Express `res`, Fastify `reply.raw`). */
interface WatchedResponse {
  writableEnded: boolean;
  destroyed?: boolean;
  once(event: 'close', listener: () => void): unknown;
}

/** The HTTP request a gated call runs for: its signal aborts when the client disconnects. */
export class HttpApprovalScope {
  #controller?: AbortController;

  constructor(private readonly response: WatchedResponse) {}

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

  static scopeFor(response: unknown): HttpApprovalScope | undefined {
    const raw = (response as { raw?: unknown } | undefined)?.raw ?? response;
    return raw && typeof (raw as WatchedResponse).once === 'function' ? new HttpApprovalScope(raw as WatchedResponse) : undefined;
  }
}
