import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Attributes, Counter, Histogram, Span, SpanContext, Tracer, UpDownCounter } from '@opentelemetry/api';
import { ApprovalError } from '../errors.js';
import { SESAME_PACKAGE_VERSION } from '../version.js';
import { loadOpenTelemetry, openTelemetryRegistered, type OpenTelemetryApiModule } from './load-opentelemetry.js';
import { ATTRIBUTE, INSTRUMENTATION_SCOPE, METRIC, OUTCOME_OF_CODE, SPAN, WAIT_BUCKETS_S, type ApprovalTelemetryOutcome } from './telemetry-names.js';

/** What the telemetry reads of a gated call (the gate's GatedCall, structurally: this floor cannot import the gate). */
export interface TracedCall {
  className: string;
  methodName: string;
  metadata: { action: string; mode?: string };
}

/** The gate's outcome table (approvalOutcome): the code and approval of an approval error. */
export type ApprovalErrorClassifier = (error: ApprovalError) => { code: string; approvalId?: string };

/** A span to link to, by its W3C ids (what a deferred job can record and a later run read back). */
export interface ApprovalTraceLink {
  traceId: string;
  spanId: string;
}

interface Instruments {
  api: OpenTelemetryApiModule;
  tracer: Tracer;
  pending: UpDownCounter;
  waitDuration: Histogram;
  outcomes: Counter;
  webhookVerifications: Counter;
}

/** One gated call's span while it is open. */
interface OpenCall {
  span: Span;
  action: string;
  mode: string;
  classify: ApprovalErrorClassifier;
  /** Set by the gate when it knows better than the error (approved, policy_allowed, pending of a deferred job). */
  outcome?: ApprovalTelemetryOutcome;
  approvalId?: string;
  wait?: OpenWait;
}

interface OpenWait {
  span: Span;
  startedAt: number;
  ended: boolean;
}

/** Outcomes that mean the gated method ran: an error then is the method's own, recorded on the span. */
const RAN: ReadonlySet<ApprovalTelemetryOutcome> = new Set(['approved', 'policy_allowed', 'not_required']);
const HEX_TRACE_ID = /^(?!0{32})[0-9a-f]{32}$/;
const HEX_SPAN_ID = /^(?!0{16})[0-9a-f]{16}$/;

/**
 * Spans and metrics of gated calls and decision webhooks, through @opentelemetry/api only. It loads the
 * API at init only when an OpenTelemetry SDK (or anything else) registered its global: without one,
 * nothing is loaded and every hook is one field check. Start the SDK before the app is created, as
 * OpenTelemetry requires for metrics.
 *
 * Span end guarantees: a call's span ends when the call settles (decision, timeout, abort, the method's
 * result), and at the latest when the app shuts down (outcome `shutdown`). Async and deferred calls end
 * with outcome `pending` when they answer 202 or delay the job.
 */
@Injectable()
export class ApprovalTelemetry implements OnModuleInit, OnApplicationShutdown {
  protected readonly logger = new Logger('SesameTelemetry');
  #warned = false;
  #otel: Instruments | undefined;
  /** Per call object (the gate's GatedCall is one object per call). */
  readonly #calls = new WeakMap<object, OpenCall>();
  /** Spans to end at shutdown if still open. */
  readonly #open = new Set<OpenCall>();

  /** Whether spans and metrics are recorded (an OpenTelemetry API was found at init). */
  get enabled(): boolean {
    return this.#otel !== undefined;
  }

  async onModuleInit(): Promise<void> {
    if (!openTelemetryRegistered()) return;
    const api = await loadOpenTelemetry();
    if (api === undefined) {
      this.logger.warn(
        'OpenTelemetry is registered in this process, but nestjs-sesame cannot load @opentelemetry/api: no Sesame spans or metrics (npm install @opentelemetry/api)',
      );
      return;
    }
    const meter = api.metrics.getMeter(INSTRUMENTATION_SCOPE, SESAME_PACKAGE_VERSION);
    this.#otel = {
      api,
      tracer: api.trace.getTracer(INSTRUMENTATION_SCOPE, SESAME_PACKAGE_VERSION),
      pending: meter.createUpDownCounter(METRIC.pending, { unit: '{approval}', description: 'Blocking gated calls waiting for a decision now' }),
      waitDuration: meter.createHistogram(METRIC.waitDuration, {
        unit: 's',
        description: 'How long blocking gated calls waited for a decision (until the decision, the timeout, an abort or shutdown)',
        advice: { explicitBucketBoundaries: WAIT_BUCKETS_S },
      }),
      outcomes: meter.createCounter(METRIC.outcomes, { unit: '{call}', description: 'Gated calls by action and outcome' }),
      webhookVerifications: meter.createCounter(METRIC.webhookVerifications, { unit: '{webhook}', description: 'Decision webhooks verified, by result' }),
    };
  }

  /** Ends what is still open (a wait the shutdown did not end, a method still running) with outcome `shutdown`. */
  onApplicationShutdown(): void {
    for (const open of [...this.#open]) {
      open.outcome ??= 'shutdown';
      this.#safely(() => this.#end(open, undefined));
    }
  }

  /** Runs a gated call in its `sesame.approval` span (the current span as parent), ended when it settles. */
  traceCall<T>(call: TracedCall, classify: ApprovalErrorClassifier, run: () => Promise<T>): Promise<T> {
    const otel = this.#otel;
    if (otel === undefined) return run();
    const { api, tracer } = otel;
    const { action, mode = 'blocking' } = call.metadata;
    const attributes: Attributes = { [ATTRIBUTE.action]: action, [ATTRIBUTE.mode]: mode, [ATTRIBUTE.method]: `${call.className}.${call.methodName}` };
    const span = tracer.startSpan(SPAN.approval, { kind: api.SpanKind.INTERNAL, attributes });
    const open: OpenCall = { span, action, mode, classify };
    this.#calls.set(call, open);
    this.#open.add(open);
    return this.#inSpan(span, run).then(
      (value) => {
        this.#safely(() => this.#end(open, undefined));
        return value;
      },
      (error: unknown) => {
        this.#safely(() => this.#end(open, { error }));
        throw error;
      },
    );
  }

  /** What the gate knows of the call's outcome before it settles (the approval it runs on, the policy's allow, a deferred job delayed). */
  outcome(call: object, outcome: ApprovalTelemetryOutcome, approvalId?: string): void {
    const open = this.#otel && this.#calls.get(call);
    if (!open) return;
    open.outcome = outcome;
    if (approvalId !== undefined) open.approvalId = approvalId;
  }

  /** Runs a trigger (create or find the approval) in a `sesame.trigger` span, a child of the current span. */
  traceTrigger<T extends { id: string }>(run: () => Promise<T>): Promise<T> {
    const otel = this.#otel;
    if (otel === undefined) return run();
    const { api, tracer } = otel;
    const span = tracer.startSpan(SPAN.trigger, { kind: api.SpanKind.INTERNAL });
    return this.#inSpan(span, run).then(
      (approval) => {
        this.#safely(() => {
          span.setAttribute(ATTRIBUTE.approvalId, approval.id);
          span.end();
        });
        return approval;
      },
      (error: unknown) => {
        this.#safely(() => {
          this.#fail(span, undefined, error);
          span.end();
        });
        throw error;
      },
    );
  }

  /**
   * Runs a blocking wait for `approval`'s decision in a `sesame.wait` span (a child of the call's span),
   * counted in `sesame.approval.pending` while it lasts and timed in `sesame.approval.wait.duration`.
   */
  traceWait<A extends { id: string }, D extends { status: string }>(call: object, approval: A, wait: (approval: A) => Promise<D>): Promise<D> {
    const otel = this.#otel;
    const open = otel && this.#calls.get(call);
    if (!open) return wait(approval);
    const { api, tracer } = otel;
    open.approvalId = approval.id;
    const span = tracer.startSpan(
      SPAN.wait,
      { kind: api.SpanKind.INTERNAL, attributes: { [ATTRIBUTE.approvalId]: approval.id } },
      api.trace.setSpan(api.context.active(), open.span),
    );
    const state: OpenWait = { span, startedAt: performance.now(), ended: false };
    open.wait = state;
    otel.pending.add(1, { [ATTRIBUTE.action]: open.action });
    return this.#inSpan(span, () => wait(approval)).then(
      (decided) => {
        const outcome = decided.status === 'approved' || decided.status === 'denied' || decided.status === 'expired' ? decided.status : 'error';
        this.#safely(() => this.#endWait(open, state, outcome, undefined));
        return decided;
      },
      (error: unknown) => {
        this.#safely(() => this.#endWait(open, state, this.#describe(open, error).outcome, error));
        throw error;
      },
    );
  }

  /** The call span's ids, for a deferred job to record so that its later runs link to it; undefined when nothing is recorded. */
  traceLink(call: object): ApprovalTraceLink | undefined {
    const open = this.#otel && this.#calls.get(call);
    if (!open) return undefined;
    const { traceId, spanId } = open.span.spanContext();
    return HEX_TRACE_ID.test(traceId) && HEX_SPAN_ID.test(spanId) ? { traceId, spanId } : undefined;
  }

  /** Links the call's span to an earlier one (a deferred job's later run to the attempt that asked for the approval). */
  linkTo(call: object, link: unknown): void {
    const open = this.#otel && this.#calls.get(call);
    if (!open || typeof link !== 'object' || link === null) return;
    const { traceId, spanId } = link as Partial<ApprovalTraceLink>;
    // Read back from a job, so anything: only well-formed W3C ids become a link.
    if (typeof traceId !== 'string' || typeof spanId !== 'string' || !HEX_TRACE_ID.test(traceId) || !HEX_SPAN_ID.test(spanId)) return;
    const context: SpanContext = { traceId, spanId, traceFlags: 1, isRemote: true };
    open.span.addLink({ context });
  }

  /** Counts one decision webhook verification: `ok`, or `failed` with the verification error's code. */
  webhookVerified(result: 'ok' | 'failed', code?: string): void {
    this.#otel?.webhookVerifications.add(1, code === undefined ? { [ATTRIBUTE.result]: result } : { [ATTRIBUTE.result]: result, [ATTRIBUTE.errorType]: code });
  }

  /**
   * Runs `run` once, in `span`'s context. The context manager is the app's code: whether it calls back
   * twice, never, or throws after calling back, `run` runs exactly once and its own promise is answered
   * (without the context when the manager failed), so telemetry never changes what runs or what it answers.
   */
  #inSpan<T>(span: Span, run: () => Promise<T>): Promise<T> {
    const { api } = this.#otel!;
    let started: Promise<T> | undefined;
    const once = () => (started ??= run());
    try {
      api.context.with(api.trace.setSpan(api.context.active(), span), once);
    } catch (error) {
      this.#warnOnce(error);
    }
    return started ?? once();
  }

  /** Ends or records something on the SDK, which is the app's code: a throw there is logged once, never the call's outcome. */
  #safely(step: () => void): void {
    try {
      step();
    } catch (error) {
      this.#warnOnce(error);
    }
  }

  #warnOnce(error: unknown): void {
    if (this.#warned) return;
    this.#warned = true;
    const name = (error as { name?: unknown } | null)?.name;
    this.logger.warn(`The OpenTelemetry SDK threw (${typeof name === 'string' ? name : 'error'}); spans or metrics may be missing, gated calls are unaffected`);
  }

  #end(open: OpenCall, thrown: { error: unknown } | undefined): void {
    if (!this.#open.delete(open)) return;
    const { span } = open;
    let outcome = open.outcome;
    if (thrown !== undefined) {
      const described = this.#describe(open, thrown.error);
      open.approvalId ??= described.approvalId;
      // An outcome the gate set and that ran nothing (a deferred job delayed) threw BullMQ's own control-flow error: no failure.
      if (outcome === undefined || RAN.has(outcome)) {
        if (outcome === undefined) outcome = described.outcome;
        if (outcome !== 'pending') this.#fail(span, described.errorType, thrown.error);
      }
    }
    outcome ??= 'approved';
    if (open.wait !== undefined && !open.wait.ended) this.#endWait(open, open.wait, outcome, undefined);
    span.setAttribute(ATTRIBUTE.outcome, outcome);
    if (open.approvalId !== undefined) span.setAttribute(ATTRIBUTE.approvalId, open.approvalId);
    span.end();
    this.#otel!.outcomes.add(1, { [ATTRIBUTE.action]: open.action, [ATTRIBUTE.mode]: open.mode, [ATTRIBUTE.outcome]: outcome });
  }

  #endWait(open: OpenCall, wait: OpenWait, outcome: string, error: unknown): void {
    if (wait.ended) return;
    wait.ended = true;
    const otel = this.#otel!;
    wait.span.setAttribute(ATTRIBUTE.outcome, outcome);
    if (error !== undefined) this.#fail(wait.span, this.#describe(open, error).errorType, error);
    wait.span.end();
    otel.pending.add(-1, { [ATTRIBUTE.action]: open.action });
    otel.waitDuration.record((performance.now() - wait.startedAt) / 1_000, { [ATTRIBUTE.action]: open.action, [ATTRIBUTE.outcome]: outcome });
  }

  /** The outcome, error type and approval of an error: the gate's table for approval errors (also as the cause of BullMQ's UnrecoverableError). */
  #describe(open: OpenCall, error: unknown): { outcome: ApprovalTelemetryOutcome; errorType: string; approvalId?: string } {
    const cause = (error as { cause?: unknown } | null | undefined)?.cause;
    const approvalError = error instanceof ApprovalError ? error : cause instanceof ApprovalError ? cause : undefined;
    if (approvalError === undefined) {
      const name = (error as { name?: unknown } | null | undefined)?.name;
      return { outcome: 'error', errorType: typeof name === 'string' && name !== '' ? name : 'Error' };
    }
    const { code, approvalId } = open.classify(approvalError);
    return { outcome: OUTCOME_OF_CODE[code] ?? 'error', errorType: code, ...(approvalId !== undefined && { approvalId }) };
  }

  #fail(span: Span, errorType: string | undefined, error: unknown): void {
    const { SpanStatusCode } = this.#otel!.api;
    if (error instanceof Error) span.recordException(error);
    if (errorType !== undefined) span.setAttribute(ATTRIBUTE.errorType, errorType);
    span.setStatus({ code: SpanStatusCode.ERROR, ...(errorType !== undefined && { message: errorType }) });
  }
}
