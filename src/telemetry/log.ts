/** The process-wide pino logger (JSON lines on stdout unless told otherwise), carrying the active trace id. */
import { isSpanContextValid, trace } from '@opentelemetry/api';
import { pino, type Logger } from 'pino';

export type { Logger };

const rootLogger: Logger = pino({
  name: 'memshift',
  level: process.env.MEMSHIFT_LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info'),
  // A line written inside a request's span can be found from its trace (and the other way round).
  mixin() {
    const ctx = trace.getActiveSpan()?.spanContext();
    return ctx && isSpanContextValid(ctx) ? { trace_id: ctx.traceId, span_id: ctx.spanId } : {};
  },
});

export const childLogger = (component: string): Logger => rootLogger.child({ component });
