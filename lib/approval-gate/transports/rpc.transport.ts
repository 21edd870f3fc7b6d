import type { ExecutionContext, LoggerService } from '@nestjs/common';
import { throwError, type Observable } from 'rxjs';
import type { ApprovalError } from '../../errors.js';
import { approvalOutcome } from '../approval-outcome.js';
import { ApprovalScope, UNWATCHED_CONNECTION, type ApprovalConnection } from '../approval-scope.js';
import { retryAfterSeconds } from './http.transport.js';

/** A TCP socket (TcpContext.getSocketRef().socket), the one transport whose client we can watch. */
interface WatchedSocket {
  destroyed: boolean;
  once(event: 'close', listener: () => void): unknown;
  removeListener(event: 'close', listener: () => void): unknown;
}

/**
 * A message or event handler's scope. Over TCP the wait stops when the client's socket closes; other
 * transports (Redis, NATS...) have no connection per message. There is no requester: Nest's
 * microservices carry no authenticated user (bind to one with ApprovalGate.requesterOf over a request of your own).
 */
export function rpcScope(context: ExecutionContext, handler: unknown): ApprovalScope {
  const rpc = context.switchToRpc();
  const socket = tcpSocketOf(rpc.getContext());
  return new ApprovalScope('rpc', socket ? socketConnection(socket) : UNWATCHED_CONNECTION, rpc.getData(), handler);
}

function tcpSocketOf(rpcContext: unknown): WatchedSocket | undefined {
  const ref = (rpcContext as { getSocketRef?: () => { socket?: unknown } } | undefined)?.getSocketRef?.();
  const socket = ref?.socket as WatchedSocket | undefined;
  return socket && typeof socket.once === 'function' && typeof socket.removeListener === 'function' ? socket : undefined;
}

function socketConnection(socket: WatchedSocket): ApprovalConnection {
  return {
    get ended() {
      return socket.destroyed;
    },
    get gone() {
      return socket.destroyed;
    },
    onGone: (listener) => {
      socket.once('close', listener);
      return () => socket.removeListener('close', listener);
    },
  };
}

/** What the ClientProxy receives: the HTTP body's code and fields, without the HTTP status. */
export interface ApprovalRpcError {
  code: string;
  message: string;
  approvalId?: string;
  status?: 'denied' | 'expired' | 'pending';
  reason?: string;
  /** Seconds. */
  retryAfter?: number;
}

/** Nest's microservice reply for an error: the observable a filter returns errors with this object (as RpcException would). */
export function approvalRpcAnswer(error: ApprovalError, logger: LoggerService): Observable<never> {
  const { code, message, approvalId, approvalStatus, reason, retryAfterMs } = approvalOutcome(error, logger);
  const body: ApprovalRpcError = {
    code,
    message,
    ...(approvalId !== undefined && { approvalId }),
    ...(approvalStatus !== undefined && { status: approvalStatus }),
    ...(reason !== undefined && { reason }),
    ...(retryAfterMs !== undefined && { retryAfter: Number(retryAfterSeconds(retryAfterMs)) }),
  };
  return throwError(() => body);
}

/**
 * @EventPattern() handlers carry PatternHandler.EVENT (2) under this key (@nestjs/microservices' PATTERN_HANDLER_METADATA).
 * Read by the interceptor, which has the handler (a filter's host has none: Nest builds it from the arguments alone).
 */
export function isEventHandler(handler: unknown): boolean {
  return typeof handler === 'function' && Reflect.getMetadata('microservices:handler_type', handler) === 2;
}

/** An event has no reply: its refusal would otherwise leave no trace. */
export function logEventRefusal(error: ApprovalError, logger: LoggerService): void {
  const { code, approvalId, message } = approvalOutcome(error);
  logger.warn(`Event handler refused, nothing ran: ${code}${approvalId ? ` id=${approvalId}` : ''} (${message})`);
}
