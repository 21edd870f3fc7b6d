import type { ArgumentsHost, ExecutionContext, LoggerService } from '@nestjs/common';
import type { ApprovalError } from '../../errors.js';
import { approvalOutcome } from '../approval-outcome.js';
import { ApprovalScope, type ApprovalConnection } from '../approval-scope.js';

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
  if (!client || typeof client.once !== 'function' || typeof client.removeListener !== 'function') return undefined;
  // Read live, as over HTTP: a user replaced during the wait (a login message on the same socket) fails the check before the run.
  const request = {
    headers: {},
    get user(): unknown {
      return client.data?.user ?? client.user;
    },
  };
  return new ApprovalScope('ws', socketConnection(client), ws.getData(), handler, request);
}

/** The socket as one message's scope watches it: `close` on a native `ws` socket, `disconnect` on socket.io. */
function socketConnection(client: WsClient): ApprovalConnection {
  const event = typeof client.readyState === 'number' ? 'close' : 'disconnect';
  const gone = () => (typeof client.readyState === 'number' ? client.readyState !== WS_OPEN : client.connected === false);
  return {
    get ended() {
      return gone();
    },
    get gone() {
      return gone();
    },
    onGone(listener) {
      client.once!(event, listener);
      return () => client.removeListener?.(event, listener);
    },
  };
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
