/**
 * For a test that walks one service through its stages: simulators storing to disk and PostgreSQL, a flags file the
 * test rewrites, a proxy on both, and the test's own connection to the state store (another replica's view of it).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Config } from '../../src/config.js';
import type { Edits } from '../../src/flags/edit.js';
import { serviceSnapshot, type Flags } from '../../src/flags/source.js';
import type { ExecutionObserver } from '../../src/plan/observer.js';
import { startProxy, type Proxy } from '../../src/proxy.js';
import type { ServiceName } from '../../src/services/registry.js';
import { openStore, type Store } from '../../src/store/index.js';
import type { SimHandle, SimOptions } from '../../src/tools/sim/index.js';
import { TempFlags } from '../flags/helpers.js';
import { freshDatabaseUrl } from './database.js';

/** The simulators in whatever form the test needs them (this process's, or a process of their own). */
type Sims = Pick<SimHandle, 'endpoints'> & { close(): Promise<void> };

export interface FlaggedStack<T extends Sims> {
  /** The legacy services' data directory. */
  dir: string;
  url: string;
  sims: T;
  temp: TempFlags;
  flags: Flags;
  config: Config;
  proxy: Proxy;
  /** The test's own connection to the state store. */
  store: Store;
  /** Rewrites the flags file and waits for the proxy's flags to show `stage`. */
  setFlags(edits: Edits, stage: string): Promise<void>;
  /** The last missed write of `side`'s gap as stored once `by` flushed, read as another replica reads it; 0 when none. */
  gapAt(side: 'legacy' | 'new', by?: Proxy): Promise<number>;
  close(): Promise<void>;
}

/** Starts the stack for `service` with the flags `edits` and the settings `config` makes; on a failed start, closes what started. */
export async function startFlaggedStack<T extends Sims>(o: {
  service: ServiceName;
  prefix: string;
  flags: Edits;
  sims: (storage: NonNullable<SimOptions['storage']>) => Promise<T>;
  config: (on: { sims: T; url: string; dir: string }) => Config;
  /** What the test watches in the proxy's flow (the reads served, from which side). */
  observers?: Partial<ExecutionObserver>[];
}): Promise<FlaggedStack<T>> {
  const closing: (() => unknown)[] = [];
  const close = async () => {
    for (const c of closing.splice(0).reverse()) await c();
  };
  try {
    const dir = mkdtempSync(join(tmpdir(), o.prefix));
    closing.push(() => rmSync(dir, { recursive: true, force: true }));
    const url = await freshDatabaseUrl();
    const sims = await o.sims({ dataDir: dir, orchestratorDatabaseUrl: url, writeDelayMs: 10 });
    closing.push(() => sims.close());
    const temp = await TempFlags.create(o.flags);
    closing.push(() => temp.dispose());
    const flags = await temp.open({ pollIntervalMs: 100 });
    const config = o.config({ sims, url, dir });
    const proxy = await startProxy(config, { flags, ...(o.observers ? { observers: o.observers } : {}) });
    closing.push(() => proxy.store.close());
    closing.push(() => proxy.close());
    const store = await openStore({ url });
    closing.push(() => store.close());
    return {
      dir,
      url,
      sims,
      temp,
      flags,
      config,
      proxy,
      store,
      async setFlags(edits, stage) {
        await temp.write(edits);
        await expect.poll(() => serviceSnapshot(flags.snapshot(), o.service).stage, { timeout: 10_000 }).toBe(stage);
      },
      async gapAt(side, by = proxy) {
        await by.store.gaps.flush();
        await store.gaps.read();
        return store.gaps.of(o.service, side)?.lastAt.getTime() ?? 0;
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
