import type { ExecutionContext } from '@nestjs/common';
import type { ApprovalScope } from '../approval-scope.js';
import { graphqlScope } from './graphql.transport.js';
import { httpScope } from './http.transport.js';
import { rpcScope } from './rpc.transport.js';
import { wsScope } from './ws.transport.js';

/** The scope of one handler call, from its transport's adapter; undefined for a transport with none (it runs as outside any). */
export function transportScope(context: ExecutionContext, handler: unknown): ApprovalScope | undefined {
  switch (context.getType<string>()) {
    case 'http':
      return httpScope(context, handler);
    case 'graphql':
      return graphqlScope(context, handler);
    case 'rpc':
      return rpcScope(context, handler);
    case 'ws':
      return wsScope(context, handler);
    default:
      return undefined;
  }
}
