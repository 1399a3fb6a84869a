/** The process-wide pino logger (JSON lines on stdout unless told otherwise). */
import { pino, type Logger } from 'pino';

export type { Logger };

export const rootLogger: Logger = pino({
  name: 'memshift',
  level: process.env.MEMSHIFT_LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info'),
});

export const childLogger = (component: string): Logger => rootLogger.child({ component });
