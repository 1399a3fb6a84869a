/** `memshift backfill --service S`: copies the legacy store into the orchestrator, resumably, then reconciles. */
import { CONFIG_OPTIONS, defineCommand } from './define.js';
import { loadConfig } from '../config.js';
import { backfill } from '../backfill/backfill.js';
import { progressReporter } from '../backfill/progress.js';
import { gapRefusal, openSides, rewriteRefusal, tuningOf } from '../reconcile/sides.js';
import { isServiceName, serviceNames } from '../services/registry.js';
import { untilSignal } from './signals.js';
import { withStoreAndFlags } from '../store/open.js';
import { serviceSnapshot } from '../flags/source.js';

const usage = `Usage: memshift backfill --service S [--batch N] [--rate N] [--concurrency N] [--config FILE] [--set k=v ...]

Streams every record of service S's legacy store (reconcile.legacyDataDir) into the orchestrator through
its translator, in batches of keys. Only what the orchestrator lacks is written, so it can be re-run
safely; after each batch a checkpoint is stored and an interrupted backfill resumes there. Ends with a
reconciliation (recorded in reconcile_runs).
  --service S        ${serviceNames().join(' | ')}
  --batch N          keys per batch (default backfill.batchSize)
  --rate N           writes per second, 0 = unlimited (default backfill.recordsPerSecond)
  --concurrency N    keys written at once (default backfill.concurrency)
SIGINT / SIGTERM stop it after the current batch. Refused, or stopped before the next batch, while the service's
stage has the orchestrator answer writes first (new-primary, complete): agents' writes land there directly, and a
rewrite of a key could wipe them. Exit status: 0 when it finished and the stores agree, 1 when it stopped early or
differences remain, 2 when it could not run (refused, failed).`;

function count(text: string | undefined, fallback: number, what: string, min: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`${what} must be an integer >= ${min}`);
  return n;
}

export const command = defineCommand(
  usage,
  {
    service: { type: 'string' },
    batch: { type: 'string' },
    rate: { type: 'string' },
    concurrency: { type: 'string' },
    ...CONFIG_OPTIONS,
  },
  async ({ values }) => {
    const service = values.service;
    if (!service || !isServiceName(service)) throw new Error(`--service must be one of ${serviceNames().join(', ')}`);
    const config = loadConfig({ path: values.config, set: values.set });
    const opts = {
      batchSize: count(values.batch, config.backfill.batchSize, '--batch', 1),
      recordsPerSecond: count(values.rate, config.backfill.recordsPerSecond, '--rate', 0),
      concurrency: count(values.concurrency, config.backfill.concurrency, '--concurrency', 1),
    };
    const stop = new AbortController();
    void untilSignal().then(() => stop.abort());
    // A signal stops it after the current batch (untilSignal above), and the store is closed then as after a batch.
    return withStoreAndFlags(
      config,
      async (store, flags) => {
        // Read here (it throws if it cannot), not trusted to the store's opening read, which swallows a failure.
        await store.gaps.read();
        const refusal = () =>
          rewriteRefusal(service, serviceSnapshot(flags.snapshot(), service).stage, 'new') ?? gapRefusal(service, 'legacy', store.gaps.of(service, 'legacy'));
        // Asked before the legacy store is loaded (a large one takes a while), then before each batch by the backfill.
        const refused = refusal();
        if (refused) throw new Error(`backfill refused: ${refused}`);
        const sides = await openSides(config, service, store.idMap, store.keyLocks);
        try {
          const result = await backfill({
            service,
            pool: store.pool,
            legacy: await sides.legacy.ready,
            new: sides.new,
            writer: sides.writers!.new!,
            ...opts,
            progress: (total, done) => progressReporter(process.stderr, `backfill ${service}`, total, done),
            signal: stop.signal,
            refusal,
            reconcileTuning: tuningOf(config),
          });
          const skipped = result.skipped ? `, ${result.skipped} left as they were (earlier writes of theirs still on their way)` : '';
          const head = `memshift backfill ${service}: ${result.keys} keys, ${result.writes} writes${skipped}${result.resumedAfter ? ` (resumed after "${result.resumedAfter}")` : ''}`;
          if (!result.complete) {
            process.stdout.write(`${head}; stopped${result.refused ? ` (${result.refused})` : ''}, resume by running it again\n`);
            return 1;
          }
          const run = result.reconcile!.run;
          process.stdout.write(
            `${head}\nreconcile run ${run.id}: missing in new ${run.missingInNew}, missing in legacy ${run.missingInLegacy}, differing ${run.differing}\n`,
          );
          return result.reconcile!.remaining ? 1 : 0;
        } finally {
          await sides.close();
        }
      },
      { signals: false },
    );
  },
);
