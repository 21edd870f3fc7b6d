import type { ArgumentsHost, ExecutionContext, LoggerService } from '@nestjs/common';
import type { ApprovalError } from '../../errors.js';
import { approvalOutcome } from '../approval-outcome.js';
import { ApprovalScope, type ApprovalConnection, type ApprovalHttpRequest } from '../approval-scope.js';

/** What both clients have: a `ws` WebSocket (readyState, send, close event) or a socket.io Socket (connected, emit, disconnect event). */
interface WsClient {
  readyState?: number;
  connected?: boolean;
  send?: (data: string) => unknown;
  emit?: (event: string, payload: unknown) => unknown;
  once?: (event: string, listener: () => void) => unknown;
  removeListener?: (event: string, listener: () => void) => unknown;
  /** socket.io: where a guard or connection handler keeps the user. */
  data?: { user?: unknown };
  /** `ws`: where a guard or connection handler keeps the user. */
  user?: unknown;
}

const WS_OPEN = 1;

/**
 * A socket message handler's scope: the wait stops when the socket disconnects. The requester is
 * socket.io's `client.data.user`, else `client.user` (set by your WsGuard or `handleConnection`), read
 * with ApprovalGate.requesterOf as over HTTP. No approval id can be presented, so async mode is refused.
 */
export function wsScope(context: ExecutionContext, handler: unknown): ApprovalScope | undefined {
  const ws = context.switchToWs();
  const client = ws.getClient<WsClient | undefined>();
  if (!client || typeof client.once !== 'function') return undefined;
  const user = client.data?.user ?? client.user;
  return new WsApprovalScope(new SocketWatch(client), ws.getData(), handler, { headers: {}, user });
}

/**
 * A socket outlives its messages: the disconnect listener a message's wait put on it is taken off when
 * that handler ends (its scope settles), or one listener per gated message (holding its scope, data and
 * user) would stay on the socket until it closes.
 */
class WsApprovalScope extends ApprovalScope {
  constructor(
    private readonly watch: SocketWatch,
    key: unknown,
    handler: unknown,
    request: ApprovalHttpRequest,
  ) {
    super('ws', watch, key, handler, request);
  }

  override settle(): void {
    super.settle();
    this.watch.release();
  }
}

/** The socket as one message's scope watches it: `close` on a native `ws` socket, `disconnect` on socket.io. */
class SocketWatch implements ApprovalConnection {
  readonly #client: WsClient;
  readonly #event: 'close' | 'disconnect';
  #listener: (() => void) | undefined;
  #released = false;

  constructor(client: WsClient) {
    this.#client = client;
    this.#event = typeof client.readyState === 'number' ? 'close' : 'disconnect';
  }

  get ended(): boolean {
    return this.gone;
  }

  get gone(): boolean {
    const client = this.#client;
    return typeof client.readyState === 'number' ? client.readyState !== WS_OPEN : client.connected === false;
  }

  onGone(listener: () => void): void {
    const once = () => {
      if (this.#listener === once) this.#listener = undefined;
      listener();
    };
    // After the handler ended, only a call it left running (not awaited) still waits: it keeps its listener
    // until the socket closes, so a disconnect still stops it.
    if (!this.#released) this.#listener = once;
    this.#client.once!(this.#event, once);
  }

  /** Takes the listener off; if the socket is gone already (the handler was unsubscribed by its close), it fires now. */
  release(): void {
    this.#released = true;
    const listener = this.#listener;
    if (listener === undefined) return;
    this.#listener = undefined;
    this.#client.removeListener?.(this.#event, listener);
    if (this.gone) listener();
  }
}

/** What the socket's `exception` event carries. */
export interface ApprovalWsError {
  status: 'error';
  code: string;
  message: string;
  approvalId?: string;
  /** denied | expired | pending (timeout). */
  approvalStatus?: 'denied' | 'expired' | 'pending';
  reason?: string;
}

/**
 * Sends the outcome as the gateway's `exception` event, as Nest's own WsException answer does: `emit`
 * on socket.io, a `{ event, data }` message on a native `ws` socket (whose `emit` only fires locally).
 */
export function approvalWsAnswer(error: ApprovalError, host: ArgumentsHost, logger: LoggerService): void {
  const { code, message, approvalId, approvalStatus, reason } = approvalOutcome(error, logger);
  const body: ApprovalWsError = {
    status: 'error',
    code,
    message,
    ...(approvalId !== undefined && { approvalId }),
    ...(approvalStatus !== undefined && { approvalStatus }),
    ...(reason !== undefined && { reason }),
  };
  const client = host.switchToWs().getClient<WsClient>();
  if (typeof client.readyState === 'number') {
    if (client.readyState === WS_OPEN) client.send?.(JSON.stringify({ event: 'exception', data: body }));
  } else client.emit?.('exception', body);
}
