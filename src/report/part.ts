/** The daily report as a part of the proxy: its admin routes, and a report written as each UTC day ends. */
import type { Part, PartContext } from '../part.js';
import { DailyReporter } from './job.js';
import { reportRoutes } from './routes.js';

export function reportPart(ctx: PartContext): Part & { reporter: DailyReporter } {
  const reporter = new DailyReporter({ config: ctx.config, store: ctx.store, flags: ctx.flags, services: ctx.services });
  return {
    name: 'daily report',
    reporter,
    routes: [reportRoutes(reporter)],
    start() {
      if (ctx.config.report.enabled) reporter.start();
    },
    close: () => reporter.close(),
  };
}
