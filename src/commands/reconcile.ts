/** `memshift reconcile --service S [--repair]`: compares (and repairs) what the two stores hold; exit 1 while differences remain. */
import { CONFIG_OPTIONS, defineCommand } from './define.js';
import { loadConfig } from '../config.js';
import { reconcileService } from '../reconcile/sides.js';
import type { Side } from '../reconcile/reconcile.js';
import { isServiceName, serviceNames } from '../services/registry.js';
import { withStoreAndFlags } from '../store/open.js';
import { GAP_CAUSE, gapLine } from '../store/side-gaps.js';
import { sideName } from '../util/side-name.js';
import { other } from '../plan/plan.js';

const usage = `Usage: memshift reconcile --service S [--repair [--give-up-missed FILE]] [--truth legacy|new] [--config FILE] [--set k=v ...]

Compares the legacy store of service S (reconcile.legacyDataDir) with the orchestrator's PostgreSQL
(reconcile.orchestratorDatabaseUrl) by checksums over key ranges, bisecting the ranges that differ, and
reports keys missing in new, missing in legacy, and differing (with field paths). An interrupted run is
resumed from its checkpoint. The run is recorded in the state store (reconcile_runs).
  --service S      ${serviceNames().join(' | ')}
  --repair         copy each difference from the source of truth through the normal write path
  --truth SIDE     source of truth (default: legacy, or new once the service's stage is new-primary; the other side
                   while one side has missed writes, legacy at complete or new under the kill switch, and a repair
                   from that side is refused; a run where it is written second leaving no difference closes the gap)
  --give-up-missed FILE
                   with --repair, when both sides missed writes (the kill switch pressed at complete): give up the
                   writes the truth missed, a person's choice after a run without it listed the keys that differ;
                   the repair then makes the other side like the truth. Only where the truth is written first.
                   What each key loses is appended to FILE first, a JSON line a key with the legacy requests that
                   would write it again (users' memories in clear: keep FILE safe; /dev/null keeps none)
  --show-values    print the differing values too (they are users' memories; hidden by default)
Exit status: 0 when the stores agree (after any repair), 1 when differences remain, 2 when it could not run (refused, failed).`;

export const command = defineCommand(
  usage,
  {
    service: { type: 'string' },
    repair: { type: 'boolean', default: false },
    truth: { type: 'string' },
    'give-up-missed': { type: 'string' },
    'show-values': { type: 'boolean', default: false },
    ...CONFIG_OPTIONS,
  },
  async ({ values }) => {
    const service = values.service;
    if (!service || !isServiceName(service)) throw new Error(`--service must be one of ${serviceNames().join(', ')}`);
    if (values.truth !== undefined && values.truth !== 'legacy' && values.truth !== 'new') throw new Error('--truth must be legacy or new');
    if (values['give-up-missed'] !== undefined && !values.repair) throw new Error('--give-up-missed goes with --repair');
    const config = loadConfig({ path: values.config, set: values.set });
    return withStoreAndFlags(config, async (store, flags) => {
      const keepIn = values['give-up-missed'];
      const { run, differences, remaining, gap, givenUp, kept } = await reconcileService(config, store, flags, service, {
        repair: values.repair,
        ...(keepIn === undefined ? {} : { giveUpMissed: { keepIn } }),
        ...(values.truth ? { truth: values.truth as Side } : {}),
      });
      const lines = [
        `memshift reconcile ${service}: run ${run.id}, stage ${run.stage}, truth ${run.truth}`,
        ...(givenUp
          ? [`  given up, as asked: the writes ${sideName(givenUp.side)} missed since ${givenUp.since.toISOString()} (${GAP_CAUSE[givenUp.side]})`]
          : []),
        ...(kept ? [`  taken from ${sideName(kept.side)} and kept in ${kept.path}: ${kept.elements} elements of ${kept.keys} keys`] : []),
        `  records: legacy ${run.legacyRecords}, new ${run.newRecords}; ranges checked ${run.rangesChecked}, records fetched ${run.recordsFetched}`,
        `  missing in new ${run.missingInNew}, missing in legacy ${run.missingInLegacy}, differing ${run.differing}` +
          (run.converged ? ` (${run.converged} more converged during the run)` : ''),
      ];
      if (run.retained) lines.push(`  retained on new beyond the legacy's history limit (not differences): ${run.retained}`);
      if (run.repair) lines.push(`  repaired ${run.repaired}, repair failed ${run.repairFailed}`);
      for (const d of differences.slice(0, 50)) {
        const fields = d.diffs.map((f) => (values['show-values'] ? `${f.path}: ${JSON.stringify(f.legacy)} -> ${JSON.stringify(f.new)}` : f.path));
        const note = d.repaired
          ? `  (repaired${d.reordered ? `: the truth's side took ${sideName(other(run.truth))}'s order` : ''}${d.settled ? `: ${d.settled} parked write(s) found on ${sideName(other(run.truth))} copied to ${sideName(run.truth)}` : ''})`
          : d.queued
            ? '  (writes still queued towards the secondary)'
            : '';
        lines.push(`  ${d.kind.padEnd(17)} ${d.key}${fields.length ? `  [${fields.join(', ')}]` : ''}${note}`);
        if (d.unrepaired) lines.push(`    not repaired: ${d.unrepaired}`);
      }
      if (differences.length > 50) lines.push(`  ... and ${differences.length - 50} more (reconcile_differences, run ${run.id})`);
      if (run.queued) lines.push(`  ${run.queued} of them with writes still queued towards the secondary (outbox): a later run judges them again`);
      lines.push(remaining ? `${remaining} difference(s) remain` : 'in sync');
      if (gap)
        lines.push(
          gap.closed
            ? `${gap.side} holds what the other side holds again: its gap since ${gap.since.toISOString()} is closed`
            : gapLine(service, gap.side, gap.since.toISOString()),
        );
      process.stdout.write(`${lines.join('\n')}\n`);
      return remaining ? 1 : 0;
    });
  },
);
