/** Scheduled reconciliation as a part of the proxy (started once ready, stopped on close), and its gauge of what remains. */
import type { Part, PartContext } from '../part.js';
import { defineGauge } from '../telemetry/metrics.js';
import { startReconcileSchedule, type ReconcileSchedule } from './schedule.js';

const remaining = defineGauge('memshift.reconcile.remaining', {
  description: "Differences the latest finished reconciliation run of a service left unrepaired (any replica's run)",
  // Every replica reads the same table: they agree.
  combine: 'first',
});

export function reconcilePart(ctx: PartContext): Part {
  let schedule: ReconcileSchedule | undefined;
  const removeGauge = remaining.addSource(async () => {
    const { rows } = await ctx.store.pool.query<{ service: string; remaining: number }>(
      `SELECT DISTINCT ON (service) service, (missing_in_new + missing_in_legacy + differing - repaired)::float8 AS remaining
       FROM reconcile_runs WHERE status = 'done' AND service = ANY($1) ORDER BY service, finished_at DESC, id DESC`,
      [ctx.services],
    );
    return rows.map((r) => ({ value: r.remaining, attributes: { service: r.service } }));
  });
  return {
    name: 'reconcile schedule',
    start() {
      schedule = startReconcileSchedule(ctx.config, ctx.store, ctx.flags);
    },
    close: async () => {
      removeGauge();
      await schedule?.stop();
    },
  };
}
