/** Scheduled reconciliation as a part of the proxy: started once the proxy is ready, stopped on close. */
import type { Part, PartContext } from '../part.js';
import { startReconcileSchedule, type ReconcileSchedule } from './schedule.js';

export function reconcilePart(ctx: PartContext): Part {
  let schedule: ReconcileSchedule | undefined;
  return {
    start() {
      schedule = startReconcileSchedule(ctx.config, ctx.store, ctx.flags);
    },
    close: async () => schedule?.stop(),
  };
}
