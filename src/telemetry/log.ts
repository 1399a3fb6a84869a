/**
 * The process-wide pino logger (JSON lines on stdout, or appended to MEMSHIFT_LOG_FILE), carrying the active
 * trace id. Lines name services, keys and counts, never users' text (test/store/no-clear-text.test.ts).
 */
import { isSpanContextValid, trace } from '@opentelemetry/api';
import { pino, type Logger } from 'pino';

export type { Logger };

const file = process.env.MEMSHIFT_LOG_FILE;
const rootLogger: Logger = pino(
  {
    name: 'memshift',
    level: process.env.MEMSHIFT_LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info'),
    // A line written inside a request's span can be found from its trace (and the other way round).
    mixin() {
      const ctx = trace.getActiveSpan()?.spanContext();
      return ctx && isSpanContextValid(ctx) ? { trace_id: ctx.traceId, span_id: ctx.spanId } : {};
    },
  },
  file ? pino.destination({ dest: file, append: true, mkdir: true, sync: true }) : undefined,
);

export const childLogger = (component: string): Logger => rootLogger.child({ component });
