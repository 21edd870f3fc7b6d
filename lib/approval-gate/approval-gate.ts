import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Approval } from '../client/approval.js';
import type { TriggerApprovalInput } from '../client/approval.types.js';
import { TRIGGER_BOUND } from '../client/approvals.resource.js';
import { SesameClient } from '../client/sesame-client.js';
import { reservedDedupKeyProblem } from '../client/trigger-approval.input.js';
import { ApprovalDenied, type ApprovalError, ApprovalTimeout, NotFoundError, RequestRejectedError, SesameConfigError } from '../errors.js';
import { ApprovalStore } from '../approval-store/approval-store.interface.js';
import { SesameConfig } from '../config/sesame.config.js';
import { bindingDedupKey, bindingDigest, shownContent, dedupKeyMatches, discriminatorFor, randomDiscriminator } from './approval-binding.js';
import {
  ApprovalAlreadyUsedError,
  ApprovalBindingError,
  ApprovalCapacityError,
  ApprovalInUseError,
  ApprovalMismatchError,
  ApprovalConditionError,
  ApprovalPending,
  ApprovalPolicyDenied,
  AsyncApprovalContextError,
  type ApprovalMismatchCode,
} from './approval-gate.errors.js';
import { readApprovalIdHeader } from './approval-id.header.js';
import { approvalOutcome } from './approval-outcome.js';
import { ApprovalSingleUse, USE_CLAIM_LEASE_MS } from './approval-single-use.js';
import type { ApprovalPolicyCall, ApprovalPolicyDecision } from './approval-policy.js';
import { ApprovalPolicyHost } from './approval-policy.host.js';
import { ApprovalRequestContext } from './approval-request.context.js';
import type { ApprovalHttpRequest, ApprovalScope } from './approval-scope.js';
import { NotCanonicalError } from './canonical-json.js';
import type { ApprovalGateRunner, GatedCall } from './gated-method.js';
import type { Resolvable } from './require-approval.options.js';
import { DeferredApprovals } from './deferred/deferred-approvals.js';
import { ApprovalTelemetry } from '../telemetry/approval-telemetry.js';
import { DeferredJob } from './deferred/deferred-job.js';
import type { BullmqModule } from './deferred/load-bullmq.js';

const DEFAULT_RETRY_AFTER_MS = 5_000;
/**
 * Blocking mode: the broker expires an undecided approval this long after the gate stops waiting. The
 * broker's clock starts at creation, before the gate's, so with no margin an undecided call ended as a
 * 504 or as a 403 "expired" depending on which timer won by a millisecond.
 */
const BLOCKING_EXPIRY_GRACE_MS = 1_000;
/** How many used approvals of one identical request a new request steps past before giving up (409). */
const MAX_USED_IN_A_ROW = 32;
/** Deferred mode: how long a job may wait for its decision unless `timeout` says otherwise. */
const DEFAULT_DEFERRED_TIMEOUT_MS = 24 * 3_600_000;
/** Deferred mode: a job whose approval is about to expire looks again this soon after, to fail promptly. */
const DEFERRED_EXPIRY_MARGIN_MS = 1_000;

/** useOnce(): the approval already ran its call (a repeat of an identical request steps past it). */
const USED = Symbol('used');

/** What an approval must carry to run this call: its binding, and the content this call shows the human. */
interface ExpectedApproval {
  action: string;
  digest: string;
  /** shownContent() of the trigger input. */
  content: string;
}

/**
 * The one place that decides whether a gated call runs. First the module's ApprovalPolicy and the
 * decorator's `when` may let it run at once or refuse it (`needsHuman()`); otherwise every path goes through `assertBound()` (is
 * this approval bound to this very call, with the content this call shows?), `authorize()` (approved
 * and unexpired?) and `useOnce()` (the single use, atomic across replicas, then the arguments checked
 * again and the call run), in every mode:
 * - blocking: trigger (dedup key carrying the call's binding), wait, then run if approved;
 * - async: trigger or find by the binding and answer pending at once, or run an approved approval once.
 * Every gated method (any handler or provider method, on any transport) reaches it through its wrapper
 * and `run()`. Subclass to change how requests are built, who the requester is, or how decisions are logged.
 */
@Injectable()
export class ApprovalGate implements ApprovalGateRunner {
  protected readonly logger = new Logger('SesameApproval');
  #pending = 0;
  readonly #singleUse: ApprovalSingleUse;
  /** Class names bound so far: a second class under a taken name is refused (see canonical-json.ts). */
  readonly #classes = new Map<string, unknown>();
  /** Deferred mode's processors and bullmq (a property, so subclasses' constructors need not pass it on). */
  @Inject(DeferredApprovals) protected readonly deferred!: DeferredApprovals;
  /** Spans and metrics (a no-op without an OpenTelemetry SDK); a property for the same reason. */
  @Inject(ApprovalTelemetry) protected readonly telemetry!: ApprovalTelemetry;

  constructor(
    protected readonly client: SesameClient,
    protected readonly config: SesameConfig,
    protected readonly requestContext: ApprovalRequestContext,
    @Inject(ApprovalStore) protected readonly store: ApprovalStore,
    protected readonly policies: ApprovalPolicyHost,
  ) {
    // A subclass that forgot to pass it on would skip the app's policy: refused at boot instead.
    if (!(policies instanceof ApprovalPolicyHost)) {
      throw new SesameConfigError(`${new.target.name}: pass all of ApprovalGate's constructor parameters to super() (the fifth is the ApprovalPolicyHost)`);
    }
    this.#singleUse = new ApprovalSingleUse(store, this.logger);
  }

  /** Blocking approvals this gate is waiting on right now. */
  get pendingCount(): number {
    return this.#pending;
  }

  run(call: GatedCall): Promise<unknown> {
    let scope: ApprovalScope | undefined;
    try {
      // The call this runs for, checked to be its own (see ApprovalRequestContext.scopeFor).
      scope = this.requestContext.scopeFor(call);
    } catch (error) {
      return Promise.reject(error);
    }
    // The handler's own gate has its scope in hand now: no hold on the storage while it waits for a human.
    if (call.route && scope?.handler === call.method) scope.releaseHold();
    // Telemetry: the call's span, ended when it settles (outcomes from approvalOutcome's table).
    return this.telemetry.traceCall(call, approvalOutcome, () => {
      if (call.metadata.mode === 'deferred') return this.runDeferred(call);
      if (this.policies.policy === undefined && !this.policies.unresolved && call.metadata.when === undefined) return this.runApproved(call, scope);
      return this.runDecided(call, scope);
    });
  }

  private runApproved(call: GatedCall, scope: ApprovalScope | undefined): Promise<unknown> {
    return call.metadata.mode === 'async' ? this.runAsync(call, scope) : this.runBlocking(call, scope);
  }

  /** The policy and `when` first: a human is asked only if neither lets the call run at once or refuses it. */
  private async runDecided(call: GatedCall, scope: ApprovalScope | undefined): Promise<unknown> {
    // The arguments are live objects and the policy is async: what runs must be what was judged.
    const digest = mayChange(call, scope) ? this.bind(call, scope, true) : undefined;
    const decided = await this.needsHuman(call, scope);
    if (decided === 'ask') return this.runApproved(call, scope);
    if (digest !== undefined && this.bind(call, scope, true) !== digest) {
      throw new ApprovalConditionError(call.className, call.methodName, `its arguments changed while ${decided} decided it needs no approval`);
    }
    this.logger.debug(`Approval not needed: action=${call.metadata.action} (${decided}) runs ${call.className}.${call.methodName}`);
    this.telemetry.outcome(call, decided === 'the policy' ? 'policy_allowed' : 'not_required');
    return this.invoke(call, scope);
  }

  /**
   * `'ask'`, or who let the call run at once (`'the policy'`, `'when'`); throws ApprovalPolicyDenied on a
   * policy's deny and ApprovalConditionError when either throws or answers something else.
   */
  private async needsHuman(call: GatedCall, scope: ApprovalScope | undefined): Promise<'ask' | 'the policy' | 'when'> {
    const { action, when } = call.metadata;
    if (this.policies.unresolved) throw new ApprovalConditionError(call.className, call.methodName, 'the approval policy is not resolved (the app has not finished its init)');
    const policy = this.policies.policy;
    if (policy) {
      let decision: ApprovalPolicyDecision;
      let reason: unknown;
      try {
        decision = await policy.evaluate(this.policyCall(call, scope));
        // Read once, inside the try: a getter may throw, or answer otherwise on a second read.
        reason = typeof decision === 'object' && decision !== null ? (decision as { deny?: unknown }).deny : undefined;
      } catch (error) {
        throw new ApprovalConditionError(call.className, call.methodName, 'the approval policy threw', error);
      }
      if (decision === 'allow') return 'the policy';
      if (typeof reason === 'string' && reason !== '') {
        this.logger.warn(`Approval refused by the policy: action=${action} for ${call.className}.${call.methodName}: ${reason}`);
        throw new ApprovalPolicyDenied(action, reason);
      }
      if (decision !== 'ask') {
        throw new ApprovalConditionError(call.className, call.methodName, "the approval policy answered neither 'ask', 'allow' nor { deny: reason }");
      }
    }
    if (when === undefined) return 'ask';
    let ask: unknown;
    try {
      ask = await when.apply(call.instance, call.args);
    } catch (error) {
      throw new ApprovalConditionError(call.className, call.methodName, 'its when predicate threw', error);
    }
    if (ask === false) return 'when';
    if (ask !== true) throw new ApprovalConditionError(call.className, call.methodName, 'its when predicate answered neither true nor false');
    return 'ask';
  }

  private policyCall(call: GatedCall, scope: ApprovalScope | undefined): ApprovalPolicyCall {
    const request = scope?.request;
    let requester: string | undefined;
    try {
      requester = request ? this.requesterOf(request, call) : undefined;
    } catch (error) {
      // A user with no usable id: the policy still sees `request` and can judge it.
      if (!(error instanceof ApprovalBindingError)) throw error;
    }
    return {
      action: call.metadata.action,
      className: call.className,
      methodName: call.methodName,
      // A frozen copy: what the policy judged is what runs, even where nothing is checked again before the run.
      args: Object.freeze([...call.args]),
      ...(requester !== undefined && { requester }),
      ...(request !== undefined && scope?.transport !== 'ws' && { request }),
      ...(scope !== undefined && { transport: scope.transport }),
    };
  }

  /**
   * Blocking mode. Without a `dedupKey` option the approval's key is random beside the binding: nobody
   * shares it. With one, calls with the same key and the same binding share one approval, and one of
   * them runs; a call with the same key but other arguments or another user gets an approval of its own.
   */
  protected async runBlocking(call: GatedCall, scope: ApprovalScope | undefined): Promise<unknown> {
    const timeout = call.metadata.timeout ?? this.config.defaultTimeout;
    const signal = scope?.signal;
    if (this.#pending >= this.config.maxPendingApprovals) {
      this.logger.warn(`Approval refused: ${this.#pending} approvals already pending (maxPendingApprovals), for ${call.className}.${call.methodName}`);
      throw new ApprovalCapacityError(this.config.maxPendingApprovals);
    }
    this.#pending++;
    const started = Date.now();
    // Only the binding digest is kept through the wait (thousands of calls wait at once): the approval's
    // content and key were checked when it was triggered, and the decision is about that very id.
    const unshared = call.metadata.dedupKey === undefined;
    let digest: string;
    let decided: Approval;
    try {
      let pending: Approval | undefined;
      ({ pending, digest } = await this.requestBlocking(call, timeout, scope, unshared));
      const decision = this.telemetry.traceWait(call, pending, (approval) => approval.wait({ timeout, signal }));
      // A wait can last minutes: do not keep the trigger's answer alive for it.
      pending = undefined;
      decided = await decision;
    } catch (error) {
      if (error instanceof ApprovalTimeout) {
        this.logger.warn(`Approval undecided: action=${call.metadata.action} id=${error.approvalId} timed out after ${Date.now() - started} ms`);
      }
      throw error;
    } finally {
      this.#pending--;
    }
    this.onDecision(decided, Date.now() - started);
    this.authorize(call, decided);
    return this.useOnce(call, scope, decided, mayChange(call, scope) ? digest : undefined, unshared);
  }

  /**
   * Blocking mode: binds the call (before its option functions run, which could change its arguments),
   * builds and triggers the request, and checks the approval it brought back is bound to this call.
   * `unshared` (no dedupKey option): the approval's key is random beside the binding, so nobody else can
   * find it, and arguments that are not data are bound as opaque markers instead of refused.
   */
  private async requestBlocking(call: GatedCall, timeout: number, scope: ApprovalScope | undefined, unshared: boolean): Promise<{ pending: Approval; digest: string }> {
    const digest = this.bind(call, scope, unshared);
    const input = await this.buildRequest(call, timeout);
    const ownKey: unknown = input.dedupKey;
    if (ownKey !== undefined && (typeof ownKey !== 'string' || ownKey === '')) {
      throw new RequestRejectedError(null, 'invalid_input', 'dedupKey: the dedupKey option must give a non-empty string, or undefined for none');
    }
    const reserved = ownKey === undefined ? undefined : reservedDedupKeyProblem(ownKey);
    // Hashed into the discriminator below, such a key could never reach the namespace; refused all the same, as trigger() refuses it.
    if (reserved) throw new RequestRejectedError(null, 'invalid_input', reserved);
    const discriminator = ownKey === undefined ? randomDiscriminator() : discriminatorFor('dedup', ownKey);
    const pending = await this.trigger({ ...input, dedupKey: bindingDedupKey(digest, discriminator) }, scope?.signal);
    // A dedup hit brings back another call's approval only if the binding was forged: check before waiting on it.
    this.assertBound(call, pending, expectation(input, digest));
    this.logger.log(`Approval requested: action=${input.action} id=${pending.id} for ${call.className}.${call.methodName}`);
    return { pending, digest };
  }

  /**
   * Async mode. Without `Sesame-Approval-Id`: trigger with a dedup key derived from the binding (so a
   * retry finds the same approval), answer pending, or run it if it is already approved and unused.
   * With it: check that approval approves this very request, then answer pending, refuse, or run once.
   */
  protected async runAsync(call: GatedCall, scope: ApprovalScope | undefined): Promise<unknown> {
    if (!scope?.request || !scope.repeatable) throw new AsyncApprovalContextError(call.className, call.methodName);
    const presented = readApprovalIdHeader(scope.request.headers);
    const digest = this.bind(call, scope, false);
    const { signal } = scope;
    const timeout = call.metadata.timeout ?? this.config.defaultTimeout;
    const input = await this.buildRequest(call, timeout);
    const expected = expectation(input, digest);

    if (presented !== undefined) {
      const approval = await this.presentedApproval(call, presented, signal);
      this.assertBound(call, approval, expected);
      this.authorize(call, approval);
      return this.useOnce(call, scope, approval, mayChange(call, scope) ? digest : undefined, false);
    }

    let usedBefore: string | undefined;
    for (let i = 0; i < MAX_USED_IN_A_ROW; i++) {
      const discriminator = usedBefore === undefined ? undefined : discriminatorFor('after', usedBefore);
      const approval = await this.trigger({ ...input, dedupKey: bindingDedupKey(digest, discriminator) }, signal);
      if (approval.pending) {
        this.logger.log(`Approval requested: action=${approval.action} id=${approval.id} for ${call.className}.${call.methodName} (async)`);
      }
      this.assertBound(call, approval, expected);
      this.authorize(call, approval);
      const result = await this.useOnce(call, scope, approval, mayChange(call, scope) ? digest : undefined, false, true);
      if (result !== USED) return result;
      // That approval already ran this same request once: this call is a new operation and needs its own approval.
      usedBefore = approval.id;
    }
    throw new ApprovalAlreadyUsedError(usedBefore!);
  }

  /**
   * Deferred mode: a BullMQ processor's `process(job, token)`. The approval is bound to the job (its
   * queue, id, name, creation time and data) with a dedup key that locates it, so every attempt finds the
   * same approval. Pending: the job records it and is delayed (BullMQ's DelayedError), holding no worker,
   * until a decision webhook promotes it or `recheckInterval` passes. Approved: the method runs, once per
   * run the job allows (see runJob). A refusal fails the job without retries (UnrecoverableError); the
   * broker or the store unavailable fails the attempt, retried by the job's own `attempts` and `backoff`.
   */
  protected async runDeferred(call: GatedCall): Promise<unknown> {
    const bullmq = await this.deferred.bullmq();
    let job: DeferredJob | undefined;
    let decided: DeferredDecision;
    try {
      job = DeferredJob.of(call);
      decided = await this.decideDeferred(call, job, bullmq);
      // The job's data is a live object: checked again with no await before the run.
      if (this.bindJob(call, job) !== decided.digest) {
        throw decided.approval
          ? this.mismatch(call, 'approval_mismatch', decided.approval.id, `Job ${job.label} changed after approval ${decided.approval.id} was asked for it; nothing ran`)
          : new ApprovalConditionError(call.className, call.methodName, `its job changed while ${decided.by} decided it needs no approval`);
      }
    } catch (error) {
      throw deferredFailure(bullmq, job, error);
    }
    if (!decided.approval) {
      this.telemetry.outcome(call, decided.by === 'the policy' ? 'policy_allowed' : 'not_required');
      return call.method.apply(call.instance, call.args);
    }
    return this.runJob(call, job, decided.approval, decided.run, bullmq);
  }

  /** Everything before the method runs: the policy and `when`, then the approval and the run it allows. */
  private async decideDeferred(call: GatedCall, job: DeferredJob, bullmq: BullmqModule): Promise<DeferredDecision> {
    const digest = this.bindJob(call, job);
    if (this.policies.policy !== undefined || this.policies.unresolved || call.metadata.when !== undefined) {
      const by = await this.needsHuman(call, undefined);
      if (by !== 'ask') {
        this.logger.debug(`Approval not needed: action=${call.metadata.action} (${by}) runs ${call.className}.${call.methodName} for job ${job.label}`);
        return { digest, by };
      }
    }
    const input = await this.buildRequest(call, call.metadata.timeout ?? DEFAULT_DEFERRED_TIMEOUT_MS);
    const approval = await this.deferredApproval(call, job, input, digest);
    // A later attempt: its span links to the one that asked (recorded on the job, so it survives restarts).
    if (job.recordedApprovalId === approval.id) this.telemetry.linkTo(call, job.recordedTrace);
    this.assertBound(call, approval, expectation(input, digest));
    if (approval.pending) {
      const recheck = call.metadata.recheckInterval ?? this.config.deferredRecheckInterval;
      const expiry = approval.expiresAt ? approval.expiresAt.getTime() + DEFERRED_EXPIRY_MARGIN_MS : Infinity;
      await job.awaitDecision(approval, Math.min(Date.now() + recheck, expiry), this.telemetry.traceLink(call));
      // A decision webhook that came before the job was delayed found it active and could not promote it: look once.
      if (input.callbackUrl !== undefined) await this.resumeIfDecided(job, approval);
      this.telemetry.outcome(call, 'pending', approval.id);
      throw new bullmq.DelayedError(`Sesame approval ${approval.id} pending`);
    }
    this.authorize(call, approval);
    return { digest, approval, run: await this.takeJobRun(call, job, approval, bullmq) };
  }

  /** Promotes the delayed job if its approval was decided meanwhile; any failure leaves it to the webhook or the re-check. */
  private async resumeIfDecided(job: DeferredJob, approval: Approval): Promise<void> {
    try {
      if (!(await this.client.approvals.get(approval.id)).pending) await job.promote();
    } catch {
      // Not delayed any more (the webhook promoted it), or the broker is away: the re-check looks again.
    }
  }

  /** The approval recorded on the job by an earlier attempt (so an expired one fails the job), else the one its dedup key finds or creates. */
  private async deferredApproval(call: GatedCall, job: DeferredJob, input: TriggerApprovalInput, digest: string): Promise<Approval> {
    const recorded = job.recordedApprovalId;
    if (recorded !== undefined) {
      try {
        return await this.client.approvals.get(recorded);
      } catch (error) {
        // Gone from the broker (its retention ended): the job asks again, under the same binding.
        if (!(error instanceof NotFoundError)) throw error;
      }
    }
    const approval = await this.trigger({ ...input, dedupKey: bindingDedupKey(digest, job.locator ?? discriminatorFor('job', job.label)) }, undefined);
    if (approval.pending && approval.id !== recorded) {
      this.logger.log(`Approval requested: action=${approval.action} id=${approval.id} for ${call.className}.${call.methodName} (deferred job ${job.label})`);
    }
    return approval;
  }

  /**
   * Takes one run of the job under this approval: the first, or a retry after a run that failed (each
   * failure is recorded by runJob), at most the job's `attempts` in all. A run that started and never
   * reported (its process died, or it is still going after its lock lapsed) allows no further run.
   */
  private async takeJobRun(call: GatedCall, job: DeferredJob, approval: Approval, bullmq: BullmqModule): Promise<number> {
    for (let run = 0; run < job.maxRuns; run++) {
      const taken = await this.#singleUse.take(approval, runMark(run));
      if (taken === 'taken') return run;
      const failed = taken === 'used' ? await this.#singleUse.check(approval, failureMark(run)) : 'in_use';
      if (failed === 'used') continue;
      if (failed === 'in_use') {
        // Another worker is between taking this run and confirming it: look again once its claim would have lapsed.
        await job.delay(Date.now() + USE_CLAIM_LEASE_MS);
        this.telemetry.outcome(call, 'in_use', approval.id);
        throw new bullmq.DelayedError(`Sesame approval ${approval.id} in use`);
      }
      break;
    }
    this.logger.warn(`Approval refused: action=${approval.action} id=${approval.id} already used by job ${job.label}, for ${call.className}.${call.methodName}`);
    throw new ApprovalAlreadyUsedError(approval.id);
  }

  /** Runs the method; a failure is recorded first, so BullMQ's retry of this job may run it again under the same approval. */
  private async runJob(call: GatedCall, job: DeferredJob, approval: Approval, run: number, bullmq: BullmqModule): Promise<unknown> {
    this.logger.log(
      `Approval used: action=${approval.action} id=${approval.id} runs ${call.className}.${call.methodName} for job ${job.label}${run > 0 ? ` (run ${run + 1})` : ''}`,
    );
    this.telemetry.outcome(call, 'approved', approval.id);
    try {
      return await call.method.apply(call.instance, call.args);
    } catch (error) {
      // Recorded only for BullMQ's own retry: a failure it does not retry ends what this approval allows.
      if (job.retriedAfter(error, bullmq.UnrecoverableError)) {
        try {
          await this.#singleUse.take(approval, failureMark(run));
        } catch {
          this.logger.error(`Job ${job.label} failed under approval ${approval.id}, and the approval store could not record it: a retry will be refused, not run`);
        }
      }
      throw error;
    }
  }

  /** The job's binding digest: action, method and the job itself; no requester (a job has none; whoever queued it is in its data if it matters). */
  private bindJob(call: GatedCall, job: DeferredJob): string {
    try {
      return bindingDigest(this.config.bindingKey, { action: call.metadata.action, method: `${call.className}.${call.methodName}`, args: job.binding, requester: undefined });
    } catch (error) {
      if (error instanceof NotCanonicalError) throw new ApprovalBindingError(call.className, call.methodName, `job ${job.label}: ${error.path} is ${error.what}`);
      throw error;
    }
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

  /** The clock the gate judges expiry by (ms since the epoch). Override in tests. */
  protected now(): number {
    return Date.now();
  }

  /**
   * The call's binding digest, over its action, arguments and requester. `unshared`: the approval gets a
   * random key no other call can present, so what is not data (a request object, a callback, a user
   * with no id) is bound as an opaque marker instead of refused; its data is still checked again
   * before the call runs.
   */
  private bind(call: GatedCall, scope: ApprovalScope | undefined, unshared: boolean): string {
    const { action } = call.metadata;
    const request = scope?.request;
    if (!unshared && scope !== undefined && request === undefined && scope.transport !== 'rpc') {
      // A client's call whose user the gate cannot read (a detached scope): an approval others can find would be anyone's.
      throw new ApprovalBindingError(
        call.className,
        call.methodName,
        'it runs for a client the gate cannot identify (its handler has no request to read the user from, e.g. a GraphQL context without req)',
      );
    }
    let requester: string | undefined;
    try {
      requester = request ? this.requesterOf(request, call) : undefined;
    } catch (error) {
      if (!(unshared && error instanceof ApprovalBindingError)) throw error;
      requester = '(unidentified)';
    }
    try {
      const method = `${call.className}.${call.methodName}`;
      return bindingDigest(this.config.bindingKey, { action, method, args: call.args, requester }, { classes: this.#classes, lenient: unshared });
    } catch (error) {
      if (error instanceof NotCanonicalError) throw new ApprovalBindingError(call.className, call.methodName, `${error.path} is ${error.what}`);
      throw error;
    }
  }

  private trigger(input: TriggerApprovalInput, signal: AbortSignal | undefined): Promise<Approval> {
    return this.telemetry.traceTrigger(() => this.client.approvals[TRIGGER_BOUND](input, { signal }));
  }

  private async presentedApproval(call: GatedCall, id: string, signal: AbortSignal): Promise<Approval> {
    try {
      return await this.client.approvals.get(id, { signal });
    } catch (error) {
      if (error instanceof NotFoundError) throw this.mismatch(call, 'approval_not_found', id, `Approval ${id} does not exist`);
      throw error;
    }
  }

  /** Throws ApprovalMismatchError unless the approval is bound to this call and shows what this call shows. */
  private assertBound(call: GatedCall, approval: Approval, expected: ExpectedApproval): void {
    const { id } = approval;
    if (approval.action !== expected.action) {
      throw this.mismatch(call, 'approval_action_mismatch', id, `Approval ${id} is for action "${approval.action}", not "${expected.action}"`);
    }
    if (!dedupKeyMatches(approval.dedupKey, expected.digest)) {
      throw this.mismatch(call, 'approval_mismatch', id, `Approval ${id} was granted for another call (other arguments or another user), not this one`);
    }
    if (shownContent(approval) !== expected.content) {
      throw this.mismatch(
        call,
        'approval_mismatch',
        id,
        `Approval ${id} showed the approver another summary, reason or context than this call would, so it does not approve this call`,
      );
    }
  }

  /**
   * May this approval (bound to this call: assertBound) run now? Decided approved, and within its
   * lifetime. Answers pending (async), or throws; the single use is taken by useOnce().
   */
  private authorize(call: GatedCall, approval: Approval): void {
    if (approval.pending) throw new ApprovalPending(approval.id, approval.expiresAt, call.metadata.retryAfter ?? DEFAULT_RETRY_AFTER_MS);
    // Past its expiry an approval is refused: its used mark is only kept for its lifetime plus a margin.
    const expired = approval.approved && approval.expiresAt !== null && approval.expiresAt.getTime() <= this.now();
    if (approval.approved && !expired) return;
    const status = expired ? 'expired' : (approval.status as 'denied' | 'expired');
    this.logger.warn(`Approval not granted: action=${approval.action} id=${approval.id} status=${status} for ${call.className}.${call.methodName}`);
    throw new ApprovalDenied(approval.id, status);
  }

  private mismatch(call: GatedCall, code: ApprovalMismatchCode, id: string, message: string): ApprovalMismatchError {
    this.logger.warn(`Approval refused: ${code} id=${id} for ${call.className}.${call.methodName}`);
    return new ApprovalMismatchError(code, id, message);
  }

  /**
   * Takes the approval's single use (approval-single-use.ts), then runs the call; throws 409 (used, in
   * use) or 503 (store). `digest`: the binding to check the live arguments against right before the call
   * (undefined when nothing in the call can change). `stepPastUsed`: answer USED instead of throwing when
   * the approval already ran (async mode then asks for a fresh approval).
   */
  private async useOnce(
    call: GatedCall,
    scope: ApprovalScope | undefined,
    approval: Approval,
    digest: string | undefined,
    unshared: boolean,
    stepPastUsed = false,
  ): Promise<unknown> {
    const taken = await this.#singleUse.take(approval);
    if (taken === 'used') {
      if (stepPastUsed) return USED;
      this.logger.warn(`Approval refused: action=${approval.action} id=${approval.id} already used, for ${call.className}.${call.methodName}`);
      throw new ApprovalAlreadyUsedError(approval.id);
    }
    if (taken === 'in_use') {
      this.logger.warn(`Approval refused: action=${approval.action} id=${approval.id} in use by another attempt, for ${call.className}.${call.methodName}`);
      throw new ApprovalInUseError(approval.id, USE_CLAIM_LEASE_MS);
    }
    // The arguments are live objects: bound when the approval was asked for, they may have been changed
    // since (during the wait, or the store's round trips). Checked again with no await before the call.
    if (digest !== undefined && this.bind(call, scope, unshared) !== digest) {
      throw this.mismatch(
        call,
        'approval_mismatch',
        approval.id,
        `The arguments of ${call.className}.${call.methodName}() changed after approval ${approval.id} was asked for them; nothing ran`,
      );
    }
    this.logger.log(`Approval used: action=${approval.action} id=${approval.id} runs ${call.className}.${call.methodName}`);
    this.telemetry.outcome(call, 'approved', approval.id);
    return this.invoke(call, scope);
  }

  /** Runs the method, in its scope when it has one (gated service calls in its body find their request). */
  private invoke(call: GatedCall, scope: ApprovalScope | undefined): unknown {
    return scope ? this.requestContext.runHeld(scope, () => call.method.apply(call.instance, call.args)) : call.method.apply(call.instance, call.args);
  }

  /** Turns the decorator's options and the call's arguments into the approval request. */
  protected async buildRequest(call: GatedCall, timeout: number): Promise<TriggerApprovalInput> {
    const { metadata } = call;
    const resolve = <T>(value: Resolvable<T> | undefined) =>
      typeof value === 'function' ? (value as (...a: unknown[]) => T | Promise<T>).apply(call.instance, call.args) : value;
    const [summary, reason, context, dedupKey, callbackUrl] = await Promise.all([
      resolve(metadata.summary),
      resolve(metadata.reason),
      resolve(metadata.context),
      resolve(metadata.dedupKey),
      resolve(metadata.callbackUrl),
    ]);
    const webhookUrl = callbackUrl ?? (metadata.mode === 'deferred' ? this.config.deferredCallbackUrl : undefined);
    return {
      action: metadata.action,
      summary: summary ?? `Approve ${metadata.action} (${call.className}.${call.methodName})`,
      ...(reason !== undefined && { reason }),
      ...(context !== undefined && { context }),
      ...(dedupKey !== undefined && { dedupKey }),
      ...(webhookUrl !== undefined && { callbackUrl: webhookUrl }),
      expiresIn: metadata.expiresIn ?? Math.max(1_000, timeout + (metadata.mode === 'async' || metadata.mode === 'deferred' ? 0 : BLOCKING_EXPIRY_GRACE_MS)),
    };
  }

  protected onDecision(approval: Approval, elapsedMs: number): void {
    const line = `Approval decided: action=${approval.action} id=${approval.id} status=${approval.status} after ${elapsedMs} ms`;
    if (approval.approved) this.logger.log(line);
    else this.logger.warn(line);
  }
}

function expectation(input: TriggerApprovalInput, digest: string): ExpectedApproval {
  return { action: input.action, digest, content: shownContent(input) };
}

/**
 * Whether the call's binding could read differently now than when it was taken: object arguments can be
 * changed in place, and an HTTP request's user can be replaced. Primitive arguments outside a request:
 * it cannot, and the check before the run (a canonical encoding and an HMAC) is skipped.
 */
function mayChange(call: GatedCall, scope: ApprovalScope | undefined): boolean {
  if (scope?.request !== undefined) return true;
  return call.args.some((arg) => (typeof arg === 'object' && arg !== null) || typeof arg === 'function');
}

/** What decideDeferred() lets run: the job on its approval and the run it took, or (no approval) what let it run at once. */
type DeferredDecision =
  { digest: string; approval: Approval; run: number; by?: undefined } | { digest: string; approval?: undefined; run?: undefined; by: 'the policy' | 'when' };

/** The single-use marks of a deferred job's runs: the first run takes the approval's own mark, as every mode does. */
const runMark = (run: number) => (run === 0 ? '' : `:run:${run}`);
const failureMark = (run: number) => `:failed:${run}`;

/**
 * What a deferred attempt that ran nothing throws: BullMQ's own errors as they are; the broker or the
 * store unavailable as they are (BullMQ retries the attempt); a refusal as an UnrecoverableError naming
 * the approval, so the job fails without retries.
 */
function deferredFailure(bullmq: BullmqModule, job: DeferredJob | undefined, error: unknown): unknown {
  if (!REFUSALS.some((refusal) => error instanceof refusal)) return error;
  const { code, approvalId, approvalStatus: status } = approvalOutcome(error as ApprovalError);
  const about = [code, approvalId && `approval ${approvalId}`, status && `status ${status}`].filter(Boolean).join(', ');
  const failure = new bullmq.UnrecoverableError(`Job ${job?.label ?? '(not a BullMQ job)'} did not run (${about}): ${(error as Error).message}`);
  Object.assign(failure, { cause: error, code, ...(approvalId && { approvalId }), ...(status && { status }) });
  return failure;
}

/** What no retry of the attempt can change: the decision, the binding, the single use, the policy, a misuse. Anything else (broker, store, shutdown) is retried. */
const REFUSALS: (abstract new (...args: never[]) => ApprovalError)[] = [
  ApprovalDenied,
  ApprovalMismatchError,
  ApprovalAlreadyUsedError,
  ApprovalBindingError,
  ApprovalConditionError,
  ApprovalPolicyDenied,
  RequestRejectedError,
  SesameConfigError,
];
