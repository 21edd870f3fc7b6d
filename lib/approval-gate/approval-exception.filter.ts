import { Catch, Logger, type ArgumentsHost } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { ApprovalError } from '../errors.js';
import { approvalGraphQLError } from './transports/graphql.transport.js';
import { approvalHttpException, setApprovalHeaders } from './transports/http.transport.js';
import { approvalRpcAnswer } from './transports/rpc.transport.js';
import { approvalWsAnswer } from './transports/ws.transport.js';

/**
 * Answers approval outcomes on every transport, from the one table in approval-outcome.ts:
 * - on each gated handler (@RequireApproval adds it beside the interceptor): resolvers get a GraphQL
 *   error with `extensions.code`, message patterns an error object the ClientProxy receives, socket
 *   handlers an `exception` event, where Nest's own filters would answer "Internal server error";
 * - app-wide (SesameModule registers it): outcomes that reach Nest from an ungated handler (a gated
 *   service method it called) get the same answers, over HTTP the same statuses and bodies as a gated route.
 *   Nest applies no global filter to WebSocket gateways: a gateway whose ungated handlers call gated
 *   providers needs `@UseFilters(ApprovalExceptionFilter)` (else its clients get "Internal server error").
 * A filter runs only when something threw, so it costs successful calls nothing. Gated routes map
 * their outcomes in ApprovalGateInterceptor first, so app filters see an HttpException there.
 */
@Catch(ApprovalError)
export class ApprovalExceptionFilter extends BaseExceptionFilter {
  protected readonly logger = new Logger('SesameApproval');

  override catch(error: ApprovalError, host: ArgumentsHost): unknown {
    switch (host.getType<string>()) {
      case 'http':
        setApprovalHeaders(host.switchToHttp().getResponse(), error);
        return super.catch(this.toHttpException(error), host);
      case 'graphql':
        // Nest hands a filter's return value back to GraphQL as the resolver's result: graphql-js reports a returned error.
        return approvalGraphQLError(error, this.logger);
      case 'rpc':
        return approvalRpcAnswer(error, this.logger);
      case 'ws':
        return approvalWsAnswer(error, host, this.logger);
      default:
        // A filter's return value can become a handler's result: an unknown transport gets the error thrown on.
        throw error;
    }
  }

  /** Maps approval errors to HTTP, as ApprovalGateInterceptor does. */
  protected toHttpException(error: ApprovalError): unknown {
    return approvalHttpException(error, this.logger);
  }
}
