/**
 * The reconciler's benchmark: N session-memory records a side (SQLite file vs the orchestrator's
 * PostgreSQL) with planted differences, one full run timed, with the process's peak memory during it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { generateSessionMemoryFixture } from './fixtures.js';
import { openLegacySource } from '../../reconcile/legacy.js';
import { openOrchestratorSource } from '../../reconcile/orchestrator.js';
import { DeferredSource } from '../../reconcile/source.js';
import { openStore } from '../../store/index.js';
import { reconcile } from '../../reconcile/reconcile.js';
import { createDatabase, dropDatabase } from './databases.js';

export interface ReconcileBenchResult {
  records: number;
  planted: number;
  found: number;
  /** The run: reading both stores, comparing, re-checking, recording. */
  seconds: number;
  /** Highest resident set size of this process during the run (PostgreSQL's own memory not included). */
  peakRssMb: number;
  setupSeconds: number;
  rangesChecked: number;
  recordsFetched: number;
}

export async function benchReconcile(opts: { records: number; differences?: number; databaseUrl?: string }): Promise<ReconcileBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'memshift-bench-reconcile-'));
  const setupStart = performance.now();
  // Its own database (on an embedded server unless a server URL is given), holding both the state store and the orchestrator's tables.
  const url = opts.databaseUrl ? await createDatabase(opts.databaseUrl) : undefined;
  const store = await openStore(url ? { url } : { dataDir: join(dir, 'pg') });
  const dbUrl = url ?? store.embedded!.url;
  const orchestrator = new pg.Pool({ connectionString: dbUrl, max: 2 });
  try {
    const sqlitePath = join(dir, 'session_memory.db');
    const planted = await generateSessionMemoryFixture({ records: opts.records, differences: opts.differences ?? 25, sqlitePath, orchestrator });
    const setupSeconds = (performance.now() - setupStart) / 1000;
    global.gc?.();

    let peak = process.memoryUsage().rss;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 25);
    const started = performance.now();
    const neu = openOrchestratorSource('session-memory', dbUrl);
    const legacy = new DeferredSource(openLegacySource('session-memory', sqlitePath));
    try {
      const { run, differences } = await reconcile({ service: 'session-memory', pool: store.pool, sides: { legacy, new: neu }, truth: 'legacy' });
      const seconds = (performance.now() - started) / 1000;
      clearInterval(sampler);
      return {
        records: opts.records,
        planted: planted.length,
        found: differences.length,
        seconds,
        peakRssMb: Math.max(peak, process.memoryUsage().rss) / 2 ** 20,
        setupSeconds,
        rangesChecked: run.rangesChecked,
        recordsFetched: run.recordsFetched,
      };
    } finally {
      clearInterval(sampler);
      await Promise.all([legacy.close(), neu.close()]);
    }
  } finally {
    await orchestrator.end();
    await store.close();
    if (url) await dropDatabase(opts.databaseUrl!, url);
    rmSync(dir, { recursive: true, force: true });
  }
}
