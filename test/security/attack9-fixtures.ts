import { context, metrics, trace, type ContextManager } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';

/** A reader the test collects from when it wants (no timer). */
class CollectingReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

export interface HostileSdkOptions {
  /** Span processors registered after the in-memory exporter's (one that throws, say). */
  spanProcessors?: SpanProcessor[];
  /** The context manager registered instead of the SDK's AsyncLocalStorage one. */
  contextManager?: ContextManager;
}

/**
 * The OpenTelemetry SDK registered globally as an app would, with pieces of the test's choosing
 * (a span processor or a context manager that misbehaves), and what it exported as text.
 */
export class HostileSdk {
  readonly exporter = new InMemorySpanExporter();
  readonly #reader = new CollectingReader();
  readonly #tracerProvider: BasicTracerProvider;
  readonly #meterProvider = new MeterProvider({ readers: [this.#reader] });

  private constructor(options: HostileSdkOptions) {
    this.#tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(this.exporter), ...(options.spanProcessors ?? [])] });
  }

  static install(options: HostileSdkOptions = {}): HostileSdk {
    const sdk = new HostileSdk(options);
    context.setGlobalContextManager((options.contextManager ?? new AsyncLocalStorageContextManager()).enable());
    trace.setGlobalTracerProvider(sdk.#tracerProvider);
    metrics.setGlobalMeterProvider(sdk.#meterProvider);
    return sdk;
  }

  async uninstall(): Promise<void> {
    trace.disable();
    metrics.disable();
    context.disable();
    await this.#tracerProvider.shutdown().catch(() => undefined);
    await this.#meterProvider.shutdown();
  }

  /** Everything exported so far, as text: spans (names, attributes, events, links, status) and metrics. */
  async exportedText(): Promise<string> {
    const spans = this.exporter
      .getFinishedSpans()
      .map((span) => ({ name: span.name, attributes: span.attributes, events: span.events, links: span.links, status: span.status }));
    const { resourceMetrics } = await this.#reader.collect();
    return JSON.stringify({ spans, metrics: resourceMetrics.scopeMetrics });
  }
}
