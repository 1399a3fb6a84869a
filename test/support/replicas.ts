/** For one test file: simulators, flags with the given edits, and `count` memshift proxies on one fresh store. */
import { afterAll, beforeAll } from 'vitest';
import type { Edits } from '../../src/flags/edit.js';
import type { Flags } from '../../src/flags/source.js';
import { startProxy, type Proxy } from '../../src/proxy.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { TempFlags } from '../flags/helpers.js';
import { freshDatabaseUrl } from './database.js';
import { configFor, startSims } from './stack.js';

export interface Replicas {
  sims(): SimHandle;
  proxies(): Proxy[];
  /** The store they share. */
  url(): string;
  /** The flags they read. */
  flags(): Flags;
}

/** `extra`: config for every replica, or each replica's own (by its index). */
export function useReplicas(edits: Edits, count = 2, extra: Record<string, unknown> | ((i: number) => Record<string, unknown>) = {}): Replicas {
  let sims: SimHandle | undefined;
  let temp: TempFlags | undefined;
  let url = '';
  let flags: Flags | undefined;
  const proxies: Proxy[] = [];
  beforeAll(async () => {
    sims = await startSims();
    temp = await TempFlags.create(edits);
    flags = await temp.open();
    url = await freshDatabaseUrl();
    for (let i = 0; i < count; i++) proxies.push(await startProxy(configFor(sims, url, typeof extra === 'function' ? extra(i) : extra), { flags }));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.close()));
    await temp?.dispose();
    await sims?.close();
  });
  return { sims: () => sims!, proxies: () => proxies, url: () => url, flags: () => flags! };
}
