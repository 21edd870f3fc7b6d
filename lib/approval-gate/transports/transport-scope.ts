import type { ExecutionContext } from '@nestjs/common';
import { ApprovalScope, UNWATCHED_CONNECTION, type ApprovalTransport } from '../approval-scope.js';
import { graphqlScope } from './graphql.transport.js';
import { httpScope } from './http.transport.js';
import { rpcScope } from './rpc.transport.js';
import { wsScope } from './ws.transport.js';

/**
 * The scope of one handler call, from its transport's adapter. When the adapter finds no request or
 * client to watch (a GraphQL subscription over WebSocket, a response that is not Node's), a detached
 * scope: the handler still runs as its own (ApprovalRequestContext.scopeFor), with no requester, no
 * disconnect and no async mode. Undefined for a transport the gate does not know.
 */
export function transportScope(context: ExecutionContext, handler: unknown): ApprovalScope | undefined {
  const transport = context.getType<string>();
  if (!isKnown(transport)) return undefined;
  return transportAdapters[transport](context, handler) ?? new ApprovalScope(transport, UNWATCHED_CONNECTION, undefined, handler);
}

const transportAdapters: Record<ApprovalTransport, (context: ExecutionContext, handler: unknown) => ApprovalScope | undefined> = {
  http: httpScope,
  graphql: graphqlScope,
  rpc: rpcScope,
  ws: wsScope,
};

function isKnown(transport: string): transport is ApprovalTransport {
  return Object.hasOwn(transportAdapters, transport);
}
