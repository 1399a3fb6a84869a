/**
 * Spans on the request path: one per request, a child per leg (service, action, side, outcome), with
 * W3C trace context taken from HTTP headers. Until startTelemetry() has somewhere to send spans, the
 * request path skips them altogether: even no-op spans cost a proxy a tenth of its throughput.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import { LegError } from '../legs/types.js';
import type { Side } from '../plan/plan.js';
import { actionLabel, type Route } from '../routes/route.js';

/** How a request ended, as spans and request metrics label it. */
export type OutcomeKind = 'ok' | 'bad_request' | 'backend_error';

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

/** One request through the pipeline: `note` tells the span the route once the frame is parsed. */
export function traceRequest<T extends { kind: OutcomeKind }>(service: string, run: (note: (route: Route) => void) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(`memshift ${service}`, { kind: SpanKind.SERVER, attributes: { 'memshift.service': service } }, async (span) => {
    try {
      const outcome = await run((route) => span.setAttribute('memshift.action', actionLabel(route)));
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

/** One call to one side for a route: a child span. */
export function traceLeg<T>(side: Side, route: Route, call: () => Promise<T>): Promise<T> {
  const action = actionLabel(route);
  const attributes = { 'memshift.service': route.service, 'memshift.action': action, 'memshift.side': side };
  return tracer.startActiveSpan(`${side} ${action}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    let outcome = 'ok';
    try {
      return await call();
    } catch (err) {
      outcome = err instanceof LegError ? err.failure : 'error';
      failed(span, err);
      throw err;
    } finally {
      span.setAttribute('memshift.outcome', outcome);
      span.end();
    }
  });
}

function failed(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}
