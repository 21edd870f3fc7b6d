import { Catch, Logger, type ArgumentsHost } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { throwError } from 'rxjs';
import { ApprovalError } from '../errors.js';
import { approvalHttpException, setApprovalHeaders } from './approval-http.answer.js';

/**
 * Registered app-wide by SesameModule: answers approval outcomes that reach Nest from an ungated route
 * (a gated service method called by it) with the same statuses and bodies as a gated route. A filter
 * runs only when something threw, so it costs successful requests nothing. Gated routes map their
 * outcomes in ApprovalGateInterceptor first, so app filters see an HttpException there.
 *
 * Outside HTTP it answers as Nest's own default filters answer an unknown error (nothing of the
 * approval reaches a WebSocket or microservice client; GraphQL gets the error itself).
 */
@Catch(ApprovalError)
export class ApprovalExceptionFilter extends BaseExceptionFilter {
  protected readonly logger = new Logger('SesameApproval');

  override catch(error: ApprovalError, host: ArgumentsHost): unknown {
    const type = host.getType<string>();
    if (type === 'http') {
      setApprovalHeaders(host.switchToHttp().getResponse(), error);
      return super.catch(this.toHttpException(error), host);
    }
    if (type === 'rpc') return throwError(() => ({ status: 'error', message: 'Internal server error' }));
    if (type === 'ws') {
      (host.switchToWs().getClient() as { emit?: (event: string, body: unknown) => void }).emit?.('exception', { status: 'error', message: 'Internal server error' });
      return undefined;
    }
    return error;
  }

  /** Maps approval errors to HTTP, as ApprovalGateInterceptor does. */
  protected toHttpException(error: ApprovalError): unknown {
    return approvalHttpException(error, this.logger);
  }
}
