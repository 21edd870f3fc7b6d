/** Where a gated handler was called from: Nest's ExecutionContext type. */
export type ApprovalTransport = 'http' | 'graphql' | 'rpc' | 'ws';

/** The request as the gate reads it: Express and Fastify requests both fit (and GraphQL's `context.req`). */
export interface ApprovalHttpRequest {
  headers: Record<string, string | string[] | undefined>;
  /** Set by authentication (Passport and most guards): the requester an approval is bound to. */
  user?: unknown;
}

/**
 * The far end of one handler call, as its transport adapter watches it: an HTTP response, a
 * WebSocket, a TCP socket. `gone` when the client left before an answer; `ended` when nothing more
 * can be answered (answered, or gone).
 */
export interface ApprovalConnection {
  readonly ended: boolean;
  readonly gone: boolean;
  /** Calls `listener` once when the client goes away without an answer; the function returned takes it off. */
  onGone(listener: () => void): () => void;
}

const CLIENT_NAMES: Record<ApprovalTransport, string> = { http: 'HTTP', graphql: 'HTTP', rpc: 'Microservice', ws: 'WebSocket' };

/** A connection that never goes away (a transport with no client to watch, e.g. Redis pub/sub). */
export const UNWATCHED_CONNECTION: ApprovalConnection = Object.freeze({ ended: false, gone: false, onGone: () => () => undefined });

/**
 * One handler call a gated method runs for (an HTTP request, a GraphQL field, a message, a socket
 * event): its signal aborts when the client goes away, and async mode reads the request (approval
 * id header, user) from it. Created by the transport adapters for gated handlers only.
 */
export class ApprovalScope {
  #controller?: AbortController;
  /** Takes the disconnect listener off the connection (see settle()). */
  #release?: () => void;
  /** Set once the handler's own gate took this scope (see ApprovalRequestContext.scopeFor). */
  #taken = false;
  /** Set when the handler finished: whatever runs in this context afterwards is not this call's. */
  #settled = false;
  /** Closes the interceptor's hold on the scope storage (ApprovalRequestContext.open). */
  #hold?: () => void;

  constructor(
    readonly transport: ApprovalTransport,
    private readonly connection: ApprovalConnection,
    /** What the call is for, identity-compared: the framework's request (HTTP, GraphQL) or the message. */
    readonly key: unknown,
    /** The handler (its undecorated method) this scope was entered for. */
    readonly handler: unknown,
    /** The request the requester (and, for HTTP and GraphQL, the approval id header) is read from. */
    readonly request?: ApprovalHttpRequest,
  ) {}

  /**
   * Async mode needs a client that repeats the call with the approval id in its own request: HTTP and
   * GraphQL over HTTP (not over the GraphQL WebSocket, whose one upgrade request serves every operation).
   */
  get repeatable(): boolean {
    return (this.transport === 'http' || this.transport === 'graphql') && this.request !== undefined && this.connection !== UNWATCHED_CONNECTION;
  }

  /** Answered, or the client is gone: code still running in this context outlived the call. */
  get ended(): boolean {
    return this.connection.ended;
  }

  /** The client went away before an answer. */
  get clientGone(): boolean {
    return this.connection.gone;
  }

  /**
   * The handler finished (set by the interceptor before any outer interceptor sees it). A socket outlives
   * its messages: the disconnect listener this call's wait put on it comes off now, or one listener per
   * gated message (holding its scope, data and user) would stay until the socket closes. If the client is
   * gone already (its close ended the handler before the close event reached us), the wait is aborted now.
   */
  settle(): void {
    this.#settled = true;
    this.releaseHold();
    const release = this.#release;
    if (release === undefined) return;
    this.#release = undefined;
    release();
    if (this.connection.gone) this.#controller?.abort(this.disconnected());
  }

  get settled(): boolean {
    return this.#settled;
  }

  /** The interceptor's hold on the scope storage, let go by releaseHold(), at the latest when the handler settles. */
  holdWith(close: () => void): void {
    this.#hold = close;
  }

  /**
   * The handler's own gate read the scope: it keeps it in hand through the wait, and re-enters it for the
   * method's body (ApprovalRequestContext.runHeld). Letting go here means a call waiting for a human keeps
   * no hold, so before Node 24 async hooks can go off meanwhile (see ApprovalRequestContext).
   */
  releaseHold(): void {
    const hold = this.#hold;
    this.#hold = undefined;
    hold?.();
  }

  /** Takes the scope for the handler's own gate; false when it was taken before. */
  take(): boolean {
    if (this.#taken) return false;
    this.#taken = true;
    return true;
  }

  /** What ended the wait when the client went away. */
  disconnected(): Error {
    return new Error(`${CLIENT_NAMES[this.transport]} client disconnected`);
  }

  /** Created on first use, so calls that never reach a gate pay nothing. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      const controller = (this.#controller = new AbortController());
      const abort = () => controller.abort(this.disconnected());
      if (this.connection.gone) abort();
      // Once settled, only a call the handler left running (not awaited) asks: it keeps its listener until the client goes.
      else if (this.#settled) this.connection.onGone(abort);
      else this.#release = this.connection.onGone(abort);
    }
    return this.#controller.signal;
  }
}
