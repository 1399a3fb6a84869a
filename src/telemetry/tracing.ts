/**
 * Spans on the request path: one per request, a child per leg (service, action, side, outcome), with
 * W3C trace context taken from HTTP headers. Until startTelemetry() has somewhere to send spans, the
 * request path skips them altogether: even no-op spans cost a proxy a tenth of its throughput.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';

// One proxy tracer for the process: it finds a provider registered later by itself.
const tracer = trace.getTracer('memshift');
let spansOn = false;

/** Called once spans are exported: from then on requests and legs get spans. */
export function enableSpans(): void {
  spansOn = true;
}

/** Whether requests get spans; when not, callers go straight to the work (no closure to wrap it). */
export const spansEnabled = (): boolean => spansOn;

/** The trace context an HTTP request carries (traceparent / tracestate); the root context without one. */
export const contextFromHeaders = (headers: Record<string, string | string[] | undefined>): Context => propagation.extract(ROOT_CONTEXT, headers);

export const withContext = <T>(ctx: Context, fn: () => T): T => context.with(ctx, fn);

/** One request: `note` tells the span its action once the frame is parsed; a `backend_error` outcome marks it failed. */
export function traceRequest<T extends { kind: string }>(service: string, run: (note: (action: string) => void) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(`memshift ${service}`, { kind: SpanKind.SERVER, attributes: { 'memshift.service': service } }, async (span) => {
    try {
      const outcome = await run((action) => span.setAttribute('memshift.action', action));
      span.setAttribute('memshift.outcome', outcome.kind);
      if (outcome.kind === 'backend_error') span.setStatus({ code: SpanStatusCode.ERROR });
      return outcome;
    } catch (err) {
      failed(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** One call to one side: a child span; a failure's outcome is its `failure` (a LegError's kind) or "error". */
export function traceLeg<T>(side: string, service: string, action: string, call: () => Promise<T>): Promise<T> {
  const attributes = { 'memshift.service': service, 'memshift.action': action, 'memshift.side': side };
  return tracer.startActiveSpan(`${side} ${action}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    let outcome = 'ok';
    try {
      return await call();
    } catch (err) {
      outcome = failureOf(err);
      failed(span, err);
      throw err;
    } finally {
      span.setAttribute('memshift.outcome', outcome);
      span.end();
    }
  });
}

/** A failure's label: the `failure` a LegError carries, otherwise "error". */
export function failureOf(err: unknown): string {
  const failure = (err as { failure?: unknown } | null)?.failure;
  return typeof failure === 'string' ? failure : 'error';
}

function failed(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}
