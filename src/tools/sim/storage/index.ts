/** Persistence of the simulators: the legacy stores as files under a data directory, the orchestrator in PostgreSQL. */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { childLogger } from '../../../telemetry/log.js';
import type { SimModels } from '../models.js';
import { persistContextual, persistJarvis, persistSessionMemory, type LegacyPersistence } from './legacy-files.js';
import { persistOrchestrator } from './orchestrator-pg.js';
import { SIM_FILES } from '../services.js';

const log = childLogger('sim.storage');

export interface StorageOptions {
  /** Where the legacy services keep their files (session_memory.db, contextual_memory_store.json, jarvis_memory_store.json). */
  dataDir?: string;
  /** The orchestrator's PostgreSQL; without it the orchestrator stays in memory. */
  orchestratorDatabaseUrl?: string;
  /** Longest a change of the orchestrator waits before it is written (default 50 ms); the legacy stores are written before each reply. */
  writeDelayMs?: number;
}

export interface SimStorage {
  /** Writes every pending change now. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export async function attachStorage(models: SimModels, opts: StorageOptions): Promise<SimStorage> {
  const delay = opts.writeDelayMs ?? 50;
  const onError = (target: string) => (err: unknown) => log.error({ err, target }, 'persisting simulator state failed');
  const legacy: LegacyPersistence[] = [];
  if (opts.dataDir) {
    const dir = opts.dataDir;
    await mkdir(dir, { recursive: true });
    legacy.push(
      persistSessionMemory(models['session-memory'], join(dir, SIM_FILES['session-memory']), onError('session-memory')),
      await persistContextual(models['contextual-memory'], join(dir, SIM_FILES['contextual-memory']), onError('contextual-memory')),
      await persistJarvis(models['jarvis-memory'], join(dir, SIM_FILES['jarvis-memory']), onError('jarvis-memory')),
    );
  }
  const orchestrator = opts.orchestratorDatabaseUrl
    ? await persistOrchestrator(models.orchestrator, opts.orchestratorDatabaseUrl, delay, onError('orchestrator'))
    : undefined;
  const flush = async () => {
    await orchestrator?.flush();
  };
  return {
    flush,
    async close() {
      await flush();
      await orchestrator?.close();
      for (const store of legacy) store.close();
    },
  };
}
