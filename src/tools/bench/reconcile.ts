/**
 * The reconciler's benchmark: N records a side of session-memory (its SQLite file) or jarvis-memory (its JSON
 * file) vs the orchestrator's PostgreSQL, with planted differences, one full run timed, with the process's peak
 * memory during it.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { getHeapSpaceStatistics } from 'node:v8';
import type { Planted } from './fixtures.js';
import { startScript } from './processes.js';
import { JARVIS_MEMORY_FILE } from '../../services/jarvis-memory/legacy-store.js';
import { SESSION_MEMORY_FILE } from '../../services/session-memory/legacy-store.js';
import { openLegacySource } from '../../reconcile/legacy.js';
import { openOrchestratorSource } from '../../reconcile/orchestrator.js';
import { DeferredSource } from '../../reconcile/source.js';
import { openStore } from '../../store/index.js';
import { reconcile } from '../../reconcile/reconcile.js';
import { createDatabase, dropDatabase } from './databases.js';
import { scratchDir } from '../../util/scratch.js';

/** The services the bench can generate stores for. */
export type ReconcileBenchService = 'session-memory' | 'jarvis-memory';

export interface ReconcileBenchResult {
  service: ReconcileBenchService;
  records: number;
  analyzed: boolean;
  planted: number;
  found: number;
  /** The run: reading both stores, comparing, re-checking, recording. */
  seconds: number;
  /** Highest resident set size of this process during the run (PostgreSQL's own memory not included). */
  peakRssMb: number;
  /** At the peak: V8's heap in use, and memory outside it (buffers, WebAssembly, native), in MB. */
  atPeak: { heapMb: number; outsideMb: number; youngMb: number; externalMb: number };
  /**
   * What the run keeps live at its end, both stores still open (after a full GC, so garbage V8 had not yet
   * collected at the peak is left out): V8's heap in use and the buffers and WebAssembly memory JavaScript holds.
   */
  retained: { heapMb: number; externalMb: number };
  setupSeconds: number;
  rangesChecked: number;
  recordsFetched: number;
}

/** What starts the line of a bench part's result (its logs share the output). */
export const RESULT = 'memshift-bench-result ';

/** A part of the bench (reconcile-script.ts) run as a process of its own: the result it printed. */
async function apart<T>(args: string[], env: NodeJS.ProcessEnv = {}): Promise<T> {
  const child = startScript(new URL('./reconcile-script.ts', import.meta.url), args, env);
  const [code] = (await once(child.proc, 'close')) as [number | null];
  if (code !== 0) throw new Error(`bench part ${args[0]} failed: ${child.output()}`);
  const line = child
    .output()
    .split('\n')
    .find((l) => l.startsWith(RESULT));
  if (line === undefined) throw new Error(`bench part ${args[0]} printed no result: ${child.output()}`);
  return JSON.parse(line.slice(RESULT.length)) as T;
}

/** One run measured in a fresh process (V8 and SQLite's heaps as a `memshift reconcile` would start them). */
export function benchReconcileApart(opts: ReconcileBenchOptions): Promise<ReconcileBenchResult> {
  return apart(['run', JSON.stringify(opts)], { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --expose-gc` });
}

export interface ReconcileBenchOptions {
  service: ReconcileBenchService;
  records: number;
  differences?: number;
  databaseUrl?: string;
  /** false: the orchestrator's tables as a bulk write leaves them, without statistics (a backfill's closing run). */
  analyzed?: boolean;
}

/** One run in this process: the data set generated apart, then the reconciliation timed and its memory sampled. */
export async function benchReconcile(opts: ReconcileBenchOptions): Promise<ReconcileBenchResult> {
  const { service } = opts;
  const dir = await scratchDir('memshift-bench-reconcile');
  const setupStart = performance.now();
  // Its own database (on an embedded server unless a server URL is given), holding both the state store and the orchestrator's tables.
  const url = opts.databaseUrl ? await createDatabase(opts.databaseUrl) : undefined;
  const store = await openStore(url ? { url } : { dataDir: join(dir, 'pg') });
  const dbUrl = url ?? store.embedded!.url;
  try {
    const legacyPath = join(dir, service === 'session-memory' ? SESSION_MEMORY_FILE : JARVIS_MEMORY_FILE);
    const planted = await apart<Planted[]>([
      'fixture',
      service,
      String(opts.records),
      String(opts.differences ?? 25),
      legacyPath,
      dbUrl,
      String(opts.analyzed ?? true),
    ]);
    const setupSeconds = (performance.now() - setupStart) / 1000;
    global.gc?.();

    let peak = process.memoryUsage();
    // V8's young generation grows with a run's length (up to two 16 MB semi-spaces), whatever the run holds.
    const young = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
    let youngAtPeak = young();
    const sample = () => {
      const now = process.memoryUsage();
      if (now.rss > peak.rss) [peak, youngAtPeak] = [now, young()];
    };
    const sampler = setInterval(sample, 25);
    const started = performance.now();
    const neu = openOrchestratorSource(service, dbUrl);
    const legacy = new DeferredSource(openLegacySource(service, legacyPath));
    try {
      const { run, differences } = await reconcile({ service, pool: store.pool, sides: { legacy, new: neu }, truth: 'legacy' });
      const seconds = (performance.now() - started) / 1000;
      clearInterval(sampler);
      sample();
      global.gc?.();
      const retained = process.memoryUsage();
      return {
        service,
        records: opts.records,
        analyzed: opts.analyzed ?? true,
        planted: planted.length,
        found: differences.length,
        seconds,
        peakRssMb: peak.rss / 2 ** 20,
        atPeak: {
          heapMb: peak.heapUsed / 2 ** 20,
          outsideMb: (peak.rss - peak.heapTotal) / 2 ** 20,
          youngMb: youngAtPeak / 2 ** 20,
          externalMb: peak.external / 2 ** 20,
        },
        retained: { heapMb: retained.heapUsed / 2 ** 20, externalMb: retained.external / 2 ** 20 },
        setupSeconds,
        rangesChecked: run.rangesChecked,
        recordsFetched: run.recordsFetched,
      };
    } finally {
      clearInterval(sampler);
      await Promise.all([legacy.close(), neu.close()]);
    }
  } finally {
    await store.close();
    if (url) await dropDatabase(opts.databaseUrl!, url);
    rmSync(dir, { recursive: true, force: true });
  }
}
