import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Approval } from '../client/approval.js';
import type { TriggerApprovalInput } from '../client/approval.types.js';
import { SesameClient } from '../client/sesame-client.js';
import { ApprovalDenied, ApprovalTimeout, NotFoundError } from '../errors.js';
import { ApprovalStore } from '../approval-store/approval-store.interface.js';
import { SesameConfig } from '../module/sesame.config.js';
import { bindingDedupKey, bindingDigest, dedupKeyMatches } from './approval-binding.js';
import {
  ApprovalAlreadyUsedError,
  ApprovalBindingError,
  ApprovalMismatchError,
  ApprovalPending,
  AsyncApprovalContextError,
  type ApprovalMismatchCode,
} from './approval-gate.errors.js';
import { readApprovalIdHeader } from './approval-id.header.js';
import { ApprovalRequestContext, type ApprovalHttpRequest } from './approval-request.context.js';
import { NotCanonicalError } from './canonical-json.js';
import type { ApprovalGateRunner, GatedCall } from './gated-method.js';
import type { Resolvable } from './require-approval.options.js';

const DEFAULT_RETRY_AFTER_MS = 5_000;
/**
 * Blocking mode: the broker expires an undecided approval this long after the gate stops waiting. The
 * broker's clock starts at creation, before the gate's, so with no margin an undecided call ended as a
 * 504 or as a 403 "expired" depending on which timer won by a millisecond.
 */
const BLOCKING_EXPIRY_GRACE_MS = 1_000;
/** A used mark outlives the approval's expiry by this much, so replicas with skewed clocks still agree. */
const USED_MARK_MARGIN_MS = 5 * 60_000;
/** Broker maximum (7 days): how long to remember a use when the broker gave no expiry. */
const MAX_APPROVAL_LIFETIME_MS = 7 * 24 * 3_600_000;
/** How many used approvals of one identical request a new request steps past before giving up (409). */
const MAX_USED_IN_A_ROW = 32;

/**
 * The one place that decides whether a gated call runs: trigger, wait, then run only if approved.
 * In async mode: trigger (or find, by the request's binding) and answer pending at once, or run an
 * approved approval exactly once. The interceptor, the provider wrapper and tests all go through
 * `run()`. Subclass to change how requests are built, who the requester is, or how decisions are logged.
 */
@Injectable()
export class ApprovalGate implements ApprovalGateRunner {
  protected readonly logger = new Logger('SesameApproval');

  constructor(
    protected readonly client: SesameClient,
    protected readonly config: SesameConfig,
    protected readonly requestContext: ApprovalRequestContext,
    @Inject(ApprovalStore) protected readonly store: ApprovalStore,
  ) {}

  async run(call: GatedCall): Promise<unknown> {
    if (call.metadata.mode === 'async') return this.runAsync(call);
    const timeout = call.metadata.timeout ?? this.config.defaultTimeout;
    const signal = this.requestContext.currentSignal();
    const started = Date.now();
    let decided: Approval;
    try {
      let pending: Approval | undefined = await this.requestApproval(call, timeout, signal);
      const decision = pending.wait({ timeout, signal });
      // A wait can last minutes, in thousands of calls at once: do not keep the trigger's answer alive for it.
      pending = undefined;
      decided = await decision;
    } catch (error) {
      if (error instanceof ApprovalTimeout) {
        this.logger.warn(`Approval undecided: action=${call.metadata.action} id=${error.approvalId} timed out after ${Date.now() - started} ms`);
      }
      throw error;
    }
    this.onDecision(decided, Date.now() - started);
    if (!decided.approved) throw new ApprovalDenied(decided.id, decided.status as 'denied' | 'expired');
    return call.method.apply(call.instance, call.args);
  }

  /** Blocking mode: builds the request, triggers it, and checks the answer is for this very action. */
  private async requestApproval(call: GatedCall, timeout: number, signal: AbortSignal | undefined): Promise<Approval> {
    const input = await this.buildRequest(call, timeout);
    const approval = await this.client.approvals.trigger(input, { signal });
    // A dedup key shared by two actions brings back the other action's approval: never run on it.
    if (approval.action !== input.action) {
      throw this.mismatch(call, 'approval_action_mismatch', approval.id, `Approval ${approval.id} (dedup key reused) is for action "${approval.action}", not "${input.action}"`);
    }
    this.logger.log(`Approval requested: action=${input.action} id=${approval.id} for ${call.className}.${call.methodName}`);
    return approval;
  }

  /**
   * Async mode. Without `Sesame-Approval-Id`: trigger with a dedup key derived from the binding (so a
   * retry finds the same approval), answer pending, or run it if it is already approved and unused.
   * With it: check that approval approves this very request, then answer pending, refuse, or run once.
   */
  protected async runAsync(call: GatedCall): Promise<unknown> {
    const scope = this.requestContext.current();
    if (!scope?.request) throw new AsyncApprovalContextError(call.className, call.methodName);
    const presented = readApprovalIdHeader(scope.request.headers);
    const digest = this.digestOf(call, scope.request);
    const { signal } = scope;

    if (presented !== undefined) {
      const approval = await this.presentedApproval(call, presented, digest, signal);
      this.assertRunnable(call, approval);
      if (!(await this.consume(approval))) {
        this.logger.warn(`Approval refused: action=${approval.action} id=${approval.id} already used, for ${call.className}.${call.methodName}`);
        throw new ApprovalAlreadyUsedError(approval.id);
      }
      return this.runApproved(call, approval);
    }

    const timeout = call.metadata.timeout ?? this.config.defaultTimeout;
    const input = await this.buildRequest(call, timeout);
    let usedBefore: string | undefined;
    for (let i = 0; i < MAX_USED_IN_A_ROW; i++) {
      const approval = await this.client.approvals.trigger({ ...input, dedupKey: bindingDedupKey(digest, usedBefore) }, { signal });
      if (approval.pending) {
        this.logger.log(`Approval requested: action=${approval.action} id=${approval.id} for ${call.className}.${call.methodName} (async)`);
      }
      this.assertRunnable(call, approval);
      if (await this.consume(approval)) return this.runApproved(call, approval);
      // That approval already ran this same request once: this call is a new operation and needs its own approval.
      usedBefore = approval.id;
    }
    throw new ApprovalAlreadyUsedError(usedBefore!);
  }

  /**
   * Who is asking, for the binding: `request.user.id`, else `request.user.sub`; undefined when nobody is
   * authenticated. Override to bind to something else (a tenant, an API client).
   */
  protected requesterOf(request: ApprovalHttpRequest, call: GatedCall): string | undefined {
    const { user } = request;
    if (user === undefined || user === null) return undefined;
    const { id, sub } = user as { id?: unknown; sub?: unknown };
    const value = id ?? sub;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint') return String(value);
    // An authenticated user we cannot identify must not make approvals shareable between users.
    throw new ApprovalBindingError(
      call.className,
      call.methodName,
      'request.user has no usable id or sub to bind the approval to (override ApprovalGate.requesterOf() to name the requester)',
    );
  }

  private digestOf(call: GatedCall, request: ApprovalHttpRequest): string {
    const requester = this.requesterOf(request, call);
    try {
      return bindingDigest({ action: call.metadata.action, args: call.args, requester });
    } catch (error) {
      if (error instanceof NotCanonicalError) throw new ApprovalBindingError(call.className, call.methodName, `${error.path} is ${error.what}`);
      throw error;
    }
  }

  private async presentedApproval(call: GatedCall, id: string, digest: string, signal: AbortSignal): Promise<Approval> {
    let approval: Approval;
    try {
      approval = await this.client.approvals.get(id, { signal });
    } catch (error) {
      if (error instanceof NotFoundError) throw this.mismatch(call, 'approval_not_found', id, `Approval ${id} does not exist`);
      throw error;
    }
    if (approval.action !== call.metadata.action) {
      throw this.mismatch(call, 'approval_action_mismatch', id, `Approval ${id} is for action "${approval.action}", not "${call.metadata.action}"`);
    }
    if (!dedupKeyMatches(approval.dedupKey, digest)) {
      throw this.mismatch(call, 'approval_mismatch', id, `Approval ${id} was granted for another request (other arguments or another user), not this one`);
    }
    return approval;
  }

  private mismatch(call: GatedCall, code: ApprovalMismatchCode, id: string, message: string): ApprovalMismatchError {
    this.logger.warn(`Approval refused: ${code} id=${id} for ${call.className}.${call.methodName}`);
    return new ApprovalMismatchError(code, id, message);
  }

  /** Throws unless the approval is approved and still within its lifetime. */
  private assertRunnable(call: GatedCall, approval: Approval): void {
    if (approval.pending) throw new ApprovalPending(approval.id, approval.expiresAt, call.metadata.retryAfter ?? DEFAULT_RETRY_AFTER_MS);
    // Past its expiry an approval no longer dedups on the broker, and its used mark may be gone: refuse it.
    const expired = approval.approved && approval.expiresAt !== null && approval.expiresAt.getTime() <= Date.now();
    if (approval.approved && !expired) return;
    const status = expired ? 'expired' : (approval.status as 'denied' | 'expired');
    this.logger.warn(`Approval not granted: action=${approval.action} id=${approval.id} status=${status} for ${call.className}.${call.methodName} (async)`);
    throw new ApprovalDenied(approval.id, status);
  }

  /** Single use, atomically across replicas: true for the one caller that may run. */
  private consume(approval: Approval): Promise<boolean> {
    const lifetime = approval.expiresAt ? approval.expiresAt.getTime() - Date.now() : MAX_APPROVAL_LIFETIME_MS;
    return this.store.consumeApproval(approval.id, Math.ceil(Math.max(1, lifetime) + USED_MARK_MARGIN_MS));
  }

  private runApproved(call: GatedCall, approval: Approval): unknown {
    this.logger.log(`Approval used: action=${approval.action} id=${approval.id} runs ${call.className}.${call.methodName}`);
    return call.method.apply(call.instance, call.args);
  }

  /** Turns the decorator's options and the call's arguments into the approval request. */
  protected async buildRequest(call: GatedCall, timeout: number): Promise<TriggerApprovalInput> {
    const { metadata } = call;
    const resolve = <T>(value: Resolvable<T> | undefined) =>
      typeof value === 'function' ? (value as (...a: unknown[]) => T | Promise<T>).apply(call.instance, call.args) : value;
    const [summary, reason, context, dedupKey] = await Promise.all([
      resolve(metadata.summary),
      resolve(metadata.reason),
      resolve(metadata.context),
      resolve(metadata.dedupKey),
    ]);
    return {
      action: metadata.action,
      summary: summary ?? `Approve ${metadata.action} (${call.className}.${call.methodName})`,
      ...(reason !== undefined && { reason }),
      ...(context !== undefined && { context }),
      ...(dedupKey !== undefined && { dedupKey }),
      expiresIn: metadata.expiresIn ?? Math.max(1_000, timeout + (metadata.mode === 'async' ? 0 : BLOCKING_EXPIRY_GRACE_MS)),
    };
  }

  protected onDecision(approval: Approval, elapsedMs: number): void {
    const line = `Approval decided: action=${approval.action} id=${approval.id} status=${approval.status} after ${elapsedMs} ms`;
    if (approval.approved) this.logger.log(line);
    else this.logger.warn(line);
  }
}
