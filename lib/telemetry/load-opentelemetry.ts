import type * as OpenTelemetryApi from '@opentelemetry/api';

/** What the telemetry uses of @opentelemetry/api: the globals an SDK registers, and their constants. */
export type OpenTelemetryApiModule = Pick<typeof OpenTelemetryApi, 'trace' | 'metrics' | 'context' | 'SpanKind' | 'SpanStatusCode'>;

/**
 * Where @opentelemetry/api 1.x keeps what an SDK registers (its tracer, meter and context manager),
 * shared by every copy of the API in the process (its `Symbol.for('opentelemetry.js.api.1')`).
 */
const OTEL_GLOBAL = Symbol.for('opentelemetry.js.api.1');

/** Whether anything registered an OpenTelemetry global in this process (an SDK, a provider, a diag logger). */
export function openTelemetryRegistered(): boolean {
  return (globalThis as Record<symbol, unknown>)[OTEL_GLOBAL] !== undefined;
}

/**
 * Loads @opentelemetry/api, an optional peer dependency, when an app starts with an OpenTelemetry SDK
 * registered; never when the package is imported. Undefined when it is not installed (or not
 * reachable from this package).
 */
export async function loadOpenTelemetry(): Promise<OpenTelemetryApiModule | undefined> {
  let loaded: Partial<OpenTelemetryApiModule> & { default?: Partial<OpenTelemetryApiModule> };
  try {
    loaded = (await import('@opentelemetry/api')) as typeof loaded;
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return undefined;
    throw error;
  }
  // ESM import of the API's CommonJS build: named exports, or only a default.
  const module = loaded.trace ? loaded : (loaded.default ?? loaded);
  const { trace, metrics, context, SpanKind, SpanStatusCode } = module;
  if (typeof trace?.getTracer !== 'function' || typeof metrics?.getMeter !== 'function' || typeof context?.with !== 'function' || !SpanKind || !SpanStatusCode) {
    return undefined;
  }
  return { trace, metrics, context, SpanKind, SpanStatusCode };
}
