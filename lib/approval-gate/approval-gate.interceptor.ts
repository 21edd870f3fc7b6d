import { Injectable, Logger, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Observable, catchError, finalize, throwError } from 'rxjs';
import { approvalHttpException, setApprovalHeaders } from './approval-http.answer.js';
import { ApprovalRequestContext } from './approval-request.context.js';
import { originalMethodOf } from './gated-method.js';

/**
 * The HTTP adapter of the gate, on gated routes only: @RequireApproval puts it on the routes it gates,
 * so ungated routes never run it. It decides nothing: it runs the handler (where the gate runs, after
 * guards and pipes) inside the request's scope, so the wait stops when the client disconnects and async
 * mode reads the request, and it turns approval outcomes into HTTP answers, with the `202` of a pending
 * async approval and its `Sesame-Approval-Id` and `Retry-After` headers.
 *
 * It depends on ModuleRef only, because Nest creates it in whichever module declares the gated
 * controller, which need not import SesameModule; it finds this app's request context from there.
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
    if (context.getType() !== 'http') return next.handle();
    const http = context.switchToHttp();
    const requestContext = this.requestContext();
    const request: unknown = http.getRequest();
    // Already inside this very request's scope when the app opted into one for every route
    // (`requestContext: 'all-routes'`). A scope of another request (our caller's async context, e.g. a
    // callback queue in an interceptor above) is never reused: this request gets its own.
    const active = requestContext?.current();
    const own = active?.request === request ? active : undefined;
    const entered = requestContext && !own ? ApprovalRequestContext.scopeFor(http.getResponse(), request, originalMethodOf(context.getHandler())) : undefined;
    // The handler's own end settles its scope before any interceptor above sees it: a queue up there that starts
    // another request's handler on this completion finds a settled scope (see ApprovalRequestContext.scopeFor).
    const scope = own ?? entered;
    const settled = () => next.handle().pipe(finalize(() => scope?.settle()));
    const handled = entered ? new Observable<unknown>((subscriber) => requestContext!.run(entered, () => settled().subscribe(subscriber))) : settled();
    return handled.pipe(
      catchError((error: unknown) => {
        setApprovalHeaders(http.getResponse(), error);
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
