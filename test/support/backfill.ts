/** An in-process backfill for tests: unthrottled, over sides opened for it (the store's id map and key locks) and closed after. */
import type { Config } from '../../src/config.js';
import { backfill, type BackfillOptions, type BackfillResult } from '../../src/backfill/backfill.js';
import { openSides } from '../../src/reconcile/sides.js';
import type { ServiceName } from '../../src/services/registry.js';
import type { Store } from '../../src/store/index.js';

export async function runBackfill(
  config: Config,
  store: Store,
  service: ServiceName,
  options: Pick<BackfillOptions, 'batchSize'> & Partial<BackfillOptions>,
): Promise<BackfillResult> {
  const sides = await openSides(config, service, store.idMap, store.keyLocks);
  try {
    return await backfill({
      service,
      pool: store.pool,
      legacy: await sides.legacy.ready,
      new: sides.new,
      writer: sides.writers!.new!,
      recordsPerSecond: 0,
      concurrency: 16,
      ...options,
    });
  } finally {
    await sides.close();
  }
}
