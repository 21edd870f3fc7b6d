import type { ExecutionContext, LoggerService } from '@nestjs/common';
import type { ApprovalError } from '../../errors.js';
import { approvalOutcome } from '../approval-outcome.js';
import { ApprovalScope, UNWATCHED_CONNECTION } from '../approval-scope.js';
import { asHttpRequest, responseConnection, retryAfterSeconds } from './http.transport.js';

/** The GraphQL context as @nestjs/apollo and @nestjs/mercurius build it: `req` always, `res` or `reply` when set. */
interface GraphQLContext {
  req?: { res?: unknown; headers?: unknown };
  res?: unknown;
  reply?: unknown;
}

/**
 * A resolver call's scope: GraphQL's `context.req` (its `user` and headers, as over REST), watched
 * through the HTTP response it will be answered on (Express `req.res`, Mercurius `reply`), unwatched when
 * there is none (an operation over the GraphQL WebSocket). Undefined without a request: the resolver gets
 * a detached scope (transport-scope.ts).
 */
export function graphqlScope(context: ExecutionContext, handler: unknown): ApprovalScope | undefined {
  // The resolver arguments are (root, args, context, info); read without @nestjs/graphql, which is optional.
  const graphql = context.getArgByIndex<GraphQLContext | undefined>(2);
  const request = asHttpRequest(graphql?.req);
  if (!request) return undefined;
  // No HTTP response to watch (an operation over the GraphQL WebSocket): still bound to req.user; the wait is not watched.
  const connection = responseConnection(graphql?.res ?? graphql?.req?.res ?? graphql?.reply) ?? UNWATCHED_CONNECTION;
  return new ApprovalScope('graphql', connection, graphql!.req, handler, request);
}

/** GraphQL `extensions.code` per outcome: clients switch on these (README "GraphQL"). */
const GRAPHQL_CODES: Record<string, string> = {
  approval_pending: 'APPROVAL_PENDING',
  approval_denied: 'APPROVAL_DENIED',
  approval_expired: 'APPROVAL_DENIED',
  approval_timeout: 'APPROVAL_TIMEOUT',
  approval_policy_denied: 'APPROVAL_POLICY_DENIED',
  approval_mismatch: 'APPROVAL_MISMATCH',
  approval_action_mismatch: 'APPROVAL_MISMATCH',
  approval_not_found: 'APPROVAL_MISMATCH',
  approval_already_used: 'APPROVAL_ALREADY_USED',
  approval_in_use: 'APPROVAL_IN_USE',
  approval_id_invalid: 'APPROVAL_ID_INVALID',
  approval_aborted: 'APPROVAL_ABORTED',
  approval_broker_unavailable: 'APPROVAL_UNAVAILABLE',
  approval_broker_error: 'APPROVAL_UNAVAILABLE',
  approval_store_unavailable: 'APPROVAL_UNAVAILABLE',
  approval_capacity_exceeded: 'APPROVAL_UNAVAILABLE',
  approval_aborted_shutdown: 'APPROVAL_UNAVAILABLE',
};

/**
 * An approval outcome as a GraphQL error. graphql-js copies the `extensions` of an error a resolver
 * throws (or that a filter returns) onto the GraphQLError it reports, so Apollo and Mercurius both
 * answer it without this package loading `graphql`.
 */
export class ApprovalGraphQLError extends Error {
  constructor(
    message: string,
    readonly extensions: Readonly<Record<string, unknown>>,
  ) {
    super(message);
    this.name = 'ApprovalGraphQLError';
    // Apollo sends `extensions.stacktrace` outside production: an answer, not a crash, has no frames to show.
    this.stack = `${this.name}: ${message}`;
  }
}

export function approvalGraphQLError(error: ApprovalError, logger: LoggerService): ApprovalGraphQLError {
  const { code, message, approvalId, approvalStatus, reason, retryAfterMs } = approvalOutcome(error, logger);
  // GraphQL answers carry no Retry-After header: the wait is in the extensions.
  const text =
    code === 'approval_pending' ? 'Waiting for a human to approve. Repeat this operation with the Sesame-Approval-Id header after extensions.retryAfter seconds.' : message;
  return new ApprovalGraphQLError(text, {
    code: GRAPHQL_CODES[code] ?? 'APPROVAL_GATE_ERROR',
    // The REST code, finer than the GraphQL one (approval_expired beside approval_denied).
    sesameCode: code,
    ...(approvalId !== undefined && { approvalId }),
    ...(approvalStatus !== undefined && { status: approvalStatus }),
    ...(reason !== undefined && { reason }),
    ...(retryAfterMs !== undefined && { retryAfter: Number(retryAfterSeconds(retryAfterMs)) }),
  });
}
