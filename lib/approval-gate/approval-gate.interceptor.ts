import { Injectable, Logger, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Observable, catchError, finalize, throwError } from 'rxjs';
import { ApprovalError } from '../errors.js';
import { ApprovalRequestContext } from './approval-request.context.js';
import { originalMethodOf } from './gated-method.js';
import { approvalHttpException, setApprovalHeaders } from './transports/http.transport.js';
import { isEventHandler, logEventRefusal } from './transports/rpc.transport.js';
import { transportScope } from './transports/transport-scope.js';

/**
 * The transport adapter of the gate, on gated handlers only: @RequireApproval puts it on the routes,
 * resolvers, message and socket handlers it gates, so ungated ones never run it. It decides nothing:
 * it runs the handler (where the gate runs, after guards and pipes) inside the call's scope, so the
 * wait stops when the client goes away and async mode reads the request. Over HTTP it also turns
 * approval outcomes into HTTP answers (app filters then see an HttpException), with the `202` of a
 * pending async approval and its headers, and logs the refusals of event handlers (which have no reply);
 * on other transports ApprovalExceptionFilter answers them.
 *
 * It depends on ModuleRef only, because Nest creates it in whichever module declares the gated
 * handler, which need not import SesameModule; it finds this app's request context from there.
 */
@Injectable()
export class ApprovalGateInterceptor implements NestInterceptor {
  protected readonly logger = new Logger('SesameApproval');
  #context: ApprovalRequestContext | null | undefined;
  // #private: ModuleRef reaches the whole container (the module's options and API key among them), so a
  // deep util.inspect of a field holding it would print them.
  readonly #moduleRef: ModuleRef;

  constructor(moduleRef: ModuleRef) {
    this.#moduleRef = moduleRef;
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const requestContext = this.requestContext();
    const handler = originalMethodOf(context.getHandler());
    const fresh = requestContext ? transportScope(context, handler) : undefined;
    // Already inside this very call's scope when the app opted into one for every route (`requestContext:
    // 'all-routes'`, whose interceptor runs first). A scope of another call (our caller's async context, e.g. a
    // callback queue in an interceptor above) is never reused: this call gets its own.
    const active = fresh && requestContext!.current();
    const own = active && active.transport === fresh.transport && active.key === fresh.key && active.handler === handler ? active : undefined;
    const entered = own ? undefined : fresh;
    // The handler's own end settles its scope before any interceptor above sees it: a queue up there that starts
    // another call's handler on this completion finds a settled scope (see ApprovalRequestContext.scopeFor).
    const scope = own ?? entered;
    // Settling also lets go of the scope's hold on the storage (ApprovalScope.settle).
    const settled = () => next.handle().pipe(finalize(() => scope?.settle()));
    const handled = entered
      ? new Observable<unknown>((subscriber) =>
          requestContext!.open(entered, (close) => {
            entered.holdWith(close);
            return settled().subscribe(subscriber);
          }),
        )
      : settled();
    if (context.getType() === 'rpc' && isEventHandler(context.getHandler())) {
      return handled.pipe(
        catchError((error: unknown) => {
          if (error instanceof ApprovalError) logEventRefusal(error, this.logger);
          return throwError(() => error);
        }),
      );
    }
    if (context.getType() !== 'http') return handled;
    return handled.pipe(
      catchError((error: unknown) => {
        setApprovalHeaders(context.switchToHttp().getResponse(), error);
        return throwError(() => this.toHttpException(error));
      }),
    );
  }

  /** Maps approval errors to HTTP; anything else passes through untouched. */
  protected toHttpException(error: unknown): unknown {
    return approvalHttpException(error, this.logger);
  }

  /** This app's context, or null without SesameModule (the gate then fails closed: it is not bound). */
  private requestContext(): ApprovalRequestContext | null {
    if (this.#context === undefined) {
      try {
        this.#context = this.#moduleRef.get(ApprovalRequestContext, { strict: false });
      } catch {
        this.#context = null;
      }
    }
    return this.#context ?? null;
  }
}
