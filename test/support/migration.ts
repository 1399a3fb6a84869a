/** A proxy in front of simulators with flags from a temp file the test edits: the migration stages end to end. */
import { startProxy, type Proxy } from '../../src/proxy.js';
import type { SimHandle, SimOptions } from '../../src/tools/sim/index.js';
import type { ServedEvent } from '../../src/plan/observer.js';
import type { Flags } from '../../src/flags/source.js';
import { SIM_SERVICES, type SimService as ServiceName } from '../../src/tools/sim/services.js';
import { flagName } from '../../src/flags/names.js';
import { pyDumps } from '../../src/util/pyjson.js';
import { readFile } from 'node:fs/promises';
import { applyEdits, shippedDoc, type Edits } from '../../src/flags/edit.js';
import { TempFlags } from '../flags/helpers.js';
import { freshDatabaseUrl } from './database.js';
import { configFor, startSims } from './stack.js';

/** A stack still closing after this long says in which part (test/report/report.test.ts's last hook once timed out). */
const CLOSE_WATCH_MS = 20_000;

/** Every service dual-writing with every read shadowed: the stage where comparison sees everything. */
export const SHADOW_ALL: Edits = Object.fromEntries(
  SIM_SERVICES.flatMap((s) => [
    [flagName(s, 'dual-write'), { enabled: true }],
    [flagName(s, 'shadow-read'), { enabled: true, rollout: 100 }],
  ]),
);

export interface MigrationStack {
  sims: SimHandle;
  proxy: Proxy;
  flags: Flags;
  /** The proxy's state store. */
  databaseUrl: string;
  /** Every request the proxy served, in order. */
  served: ServedEvent[];
  /** Rewrites the flags file and resolves once the proxy has reloaded it. */
  setFlags(edits: Edits): Promise<void>;
  /** What the orchestrator holds, asked through the translator (the legacy-shaped view of new). */
  readNew(service: ServiceName, request: Record<string, unknown> & { action: string }): Promise<unknown>;
  /** What the legacy simulator holds, asked of its model directly (no proxy involved). */
  readLegacy(service: ServiceName, request: Record<string, unknown> & { action: string }): unknown;
  close(): Promise<void>;
}

/** Secondary writes drained and every read skipped for a write in flight re-checked or given up (throws past 30 s). */
export async function quiesce(proxy: Proxy, services: readonly ServiceName[] = SIM_SERVICES): Promise<void> {
  await proxy.runner.secondary.drain();
  const t = (s: ServiceName) => proxy.runner.stats.of(s);
  const settled = () => services.every((s) => t(s).skipped === t(s).rechecked + t(s).neverCompared);
  for (const deadline = Date.now() + 30_000; !settled(); await new Promise((r) => setTimeout(r, 100))) {
    // Each skipped read ends compared or given up within the re-check delay (10 s): one left over is a lost count.
    if (Date.now() > deadline)
      throw new Error(
        `skipped reads neither re-checked nor given up: ${JSON.stringify(services.map((s) => [s, t(s).skipped, t(s).rechecked, t(s).neverCompared]))}`,
      );
  }
  await new Promise((r) => setTimeout(r, 300));
}

export async function startMigrationStack(edits: Edits = {}, extraConfig: Record<string, unknown> = {}, simOptions: SimOptions = {}): Promise<MigrationStack> {
  const sims = await startSims(simOptions);
  const temp = await TempFlags.create(edits);
  const flags = await temp.open({ pollIntervalMs: 100 });
  const served: ServedEvent[] = [];
  const databaseUrl = await freshDatabaseUrl();
  const proxy = await startProxy(configFor(sims, databaseUrl, extraConfig), {
    flags,
    observers: [{ served: (e) => served.push(e) }],
  });
  return {
    sims,
    proxy,
    flags,
    databaseUrl,
    served,
    async setFlags(next) {
      const text = JSON.stringify(applyEdits(await shippedDoc(), next), null, 2);
      if (text === (await readFile(temp.file, 'utf8'))) return;
      const changed = new Promise<void>((resolve) => {
        const off = flags.onChange(() => {
          off();
          resolve();
        });
      });
      await temp.write(next);
      await changed;
    },
    // As plain JSON values: numbers as JavaScript reads them, so tests compare them with literals.
    readNew: async (service, request) => JSON.parse(pyDumps(await proxy.runner.translators[service]!.handle(request, { createMissing: false }))),
    readLegacy: (service, request) => sims.models[service].handle(request),
    async close() {
      // A close that hangs names the part it hangs in (a hook's timeout alone would not; seen once in CI).
      let part = 'proxy';
      const watch = setTimeout(() => {
        const inner = part === 'proxy' && proxy.closing ? ` (its ${proxy.closing})` : '';
        console.warn(`migration stack: still closing the ${part}${inner} after ${CLOSE_WATCH_MS} ms`);
      }, CLOSE_WATCH_MS);
      try {
        await proxy.close();
        part = 'state store';
        await proxy.store.close();
        part = 'flags file';
        await temp.dispose();
        part = 'simulators';
        await sims.close();
      } finally {
        clearTimeout(watch);
      }
    },
  };
}
