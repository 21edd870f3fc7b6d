import { HttpException, type ExecutionContext, type LoggerService } from '@nestjs/common';
import { ApprovalError } from '../../errors.js';
import { ApprovalInUseError, ApprovalPending } from '../approval-gate.errors.js';
import { SESAME_APPROVAL_ID_HEADER } from '../approval-id.header.js';
import { approvalOutcome } from '../approval-outcome.js';
import { ApprovalPendingException } from '../approval-pending.exception.js';
import { ApprovalScope, UNWATCHED_CONNECTION, type ApprovalConnection, type ApprovalHttpRequest } from '../approval-scope.js';

/** The parts of a Node ServerResponse we watch (Express `res`, Fastify `reply.raw`). */
interface WatchedResponse {
  writableEnded: boolean;
  destroyed?: boolean;
  once(event: 'close', listener: () => void): unknown;
  removeListener(event: 'close', listener: () => void): unknown;
}

/** A route's scope: the request, and its response's connection (unwatched when the response is not a Node response). */
export function httpScope(context: ExecutionContext, handler: unknown): ApprovalScope {
  const http = context.switchToHttp();
  const request: unknown = http.getRequest();
  // A response that is not Node's cannot be watched: the request still names the requester.
  const connection = responseConnection(http.getResponse()) ?? UNWATCHED_CONNECTION;
  return new ApprovalScope('http', connection, request, handler, asHttpRequest(request));
}

/** The connection of a Node response (or a framework reply wrapping one in `.raw`): gone when it closed unanswered. */
export function responseConnection(response: unknown): ApprovalConnection | undefined {
  const raw = ((response as { raw?: unknown } | undefined)?.raw ?? response) as WatchedResponse | undefined;
  if (!raw || typeof raw.once !== 'function' || typeof raw.removeListener !== 'function') return undefined;
  return {
    get ended() {
      return raw.writableEnded || (raw.destroyed === true && !raw.writableEnded);
    },
    get gone() {
      return raw.destroyed === true && !raw.writableEnded;
    },
    onGone(listener) {
      const onClose = () => {
        if (!raw.writableEnded) listener();
      };
      raw.once('close', onClose);
      return () => raw.removeListener('close', onClose);
    },
  };
}

/** The request object as the gate reads it (headers, user), when it has headers. */
export function asHttpRequest(request: unknown): ApprovalHttpRequest | undefined {
  const headers = (request as { headers?: unknown } | undefined)?.headers;
  return typeof headers === 'object' && headers !== null ? (request as ApprovalHttpRequest) : undefined;
}

/**
 * The HTTP answer to an approval outcome (README "Errors"), shared by the gated-route interceptor and
 * the exception filter so both answer alike. Anything that is not an ApprovalError passes through untouched.
 */
export function approvalHttpException(error: unknown, logger: LoggerService): unknown {
  if (!(error instanceof ApprovalError)) return error;
  if (error instanceof ApprovalPending) return new ApprovalPendingException(error);
  const { status, code, message, approvalId, approvalStatus, reason } = approvalOutcome(error, logger);
  const body = {
    statusCode: status,
    code,
    message,
    ...(approvalId !== undefined && { approvalId }),
    // The status of a refused approval; a timeout's approval is still pending.
    ...(approvalStatus !== undefined && { status: approvalStatus }),
    ...(reason !== undefined && { reason }),
  };
  return new HttpException(body, status);
}

/**
 * The headers an approval outcome carries: `Sesame-Approval-Id` and `Retry-After` (whole seconds) on a
 * pending 202, which no cache may keep; `Retry-After` on a 409 approval_in_use.
 */
export function setApprovalHeaders(response: unknown, error: unknown): void {
  if (error instanceof ApprovalPending) {
    setHeader(response, SESAME_APPROVAL_ID_HEADER, error.approvalId);
    setHeader(response, 'Retry-After', retryAfterSeconds(error.retryAfter));
    setHeader(response, 'Cache-Control', 'no-store');
  } else if (error instanceof ApprovalInUseError) {
    setHeader(response, 'Retry-After', retryAfterSeconds(error.retryAfter));
  }
}

/** `Retry-After` in whole seconds, at least one. */
export function retryAfterSeconds(ms: number): string {
  return String(Math.max(1, Math.ceil(ms / 1000)));
}

/** Express `res.header()` / Fastify `reply.header()`, else Node's `setHeader()`. */
function setHeader(response: unknown, name: string, value: string): void {
  const target = response as { header?: (n: string, v: string) => unknown; setHeader?: (n: string, v: string) => unknown } | null;
  if (typeof target?.header === 'function') target.header(name, value);
  else if (typeof target?.setHeader === 'function') target.setHeader(name, value);
}
