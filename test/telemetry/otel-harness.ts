import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { MetricReader, MeterProvider, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type Span, type SpanProcessor } from '@opentelemetry/sdk-trace-base';

/** A reader the test collects from when it wants (no timer). */
class CollectingReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/** Every span started and not ended yet: what an exporter never sees. */
class OpenSpans implements SpanProcessor {
  readonly open = new Set<Span>();
  onStart(span: Span): void {
    this.open.add(span);
  }
  onEnd(span: ReadableSpan): void {
    this.open.delete(span as Span);
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

export interface MetricPoint {
  attributes: Record<string, unknown>;
  value: number | Histogram;
}

/**
 * The OpenTelemetry SDK as an app would register it (global tracer and meter providers, the
 * AsyncLocalStorage context manager), with the SDK's in-memory span exporter and a metric reader the
 * test collects from. Fresh providers per install: each test reads only its own spans and metrics.
 */
export class OtelHarness {
  readonly exporter = new InMemorySpanExporter();
  readonly #openSpans = new OpenSpans();
  readonly #reader = new CollectingReader();
  readonly #tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(this.exporter), this.#openSpans] });
  readonly #meterProvider = new MeterProvider({ readers: [this.#reader] });
  readonly #contextManager = new AsyncLocalStorageContextManager();

  static install(): OtelHarness {
    const harness = new OtelHarness();
    context.setGlobalContextManager(harness.#contextManager.enable());
    trace.setGlobalTracerProvider(harness.#tracerProvider);
    metrics.setGlobalMeterProvider(harness.#meterProvider);
    return harness;
  }

  async uninstall(): Promise<void> {
    trace.disable();
    metrics.disable();
    context.disable();
    await this.#tracerProvider.shutdown();
    await this.#meterProvider.shutdown();
  }

  /** Ended spans, in the order they ended. */
  spans(name?: string): ReadableSpan[] {
    const all = this.exporter.getFinishedSpans();
    return name === undefined ? all : all.filter((span) => span.name === name);
  }

  /** Spans started and not ended. */
  get openSpans(): ReadableSpan[] {
    return [...this.#openSpans.open];
  }

  childrenOf(parent: ReadableSpan): ReadableSpan[] {
    const { spanId } = parent.spanContext();
    return this.spans().filter((span) => span.parentSpanContext?.spanId === spanId);
  }

  /** The data points of one metric now (cumulative), [] when it has none. */
  async points(name: string): Promise<MetricPoint[]> {
    const { resourceMetrics, errors } = await this.#reader.collect();
    if (errors.length > 0) throw new AggregateError(errors, 'metric collection failed');
    const metric = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics).find((m) => m.descriptor.name === name);
    return (metric?.dataPoints ?? []).map((point: DataPoint<unknown>) => ({ attributes: { ...point.attributes }, value: point.value as number | Histogram }));
  }

  /** Everything exported so far, as text: spans (names, attributes, events, links, status) and metrics. */
  async exportedText(): Promise<string> {
    const spans = this.spans().map((span) => ({ name: span.name, attributes: span.attributes, events: span.events, links: span.links, status: span.status }));
    const { resourceMetrics } = await this.#reader.collect();
    return JSON.stringify({ spans, metrics: resourceMetrics.scopeMetrics });
  }
}
