/** Simulators plus a proxy in front of them, all on ephemeral ports, for tests over real sockets. */
import { afterAll, beforeAll } from 'vitest';
import { parseConfig, type Config } from '../../src/config.js';
import { startProxy, type Proxy } from '../../src/proxy.js';
import { freshDatabaseUrl } from './database.js';
import { startSimulators, type SimHandle, type SimOptions } from '../../src/tools/sim/index.js';
import { SIM_SERVICES } from '../../src/tools/sim/services.js';

export async function startSims(opts: SimOptions = {}): Promise<SimHandle> {
  return startSimulators({
    ports: { 'session-memory': 0, 'contextual-memory': 0, 'jarvis-memory': 0, orchestrator: 0 },
    controlPort: null,
    ...opts,
  });
}

/**
 * Config for a proxy in front of `sims`, fronts and HTTP on ephemeral ports, its state in `databaseUrl`
 * and its flags from the shipped all-off file; the guard is off unless `extra` sets it.
 */
export function configFor(sims: Pick<SimHandle, 'endpoints'>, databaseUrl: string, extra: Record<string, unknown> = {}): Config {
  // A service's keys in `extra.services` join its wiring here rather than replace it.
  const own = (extra.services ?? {}) as Record<string, Record<string, unknown>>;
  const services = Object.fromEntries(
    SIM_SERVICES.map((s) => [s, { front: 'tcp://127.0.0.1:*', legacy: { endpoint: sims.endpoints[s], timeoutMs: 2000 }, ...own[s] }]),
  );
  return parseConfig({
    http: { host: '127.0.0.1', port: 0 },
    orchestrator: { endpoint: sims.endpoints.orchestrator, timeoutMs: 2000 },
    breaker: { failureThreshold: 3, openMs: 300 },
    // Load tests queue on the one-at-a-time simulators, which the guard would rightly call a latency breach.
    guard: { enabled: false },
    ...extra,
    services,
    store: { url: databaseUrl, ...(extra.store as Record<string, unknown> | undefined) },
    // Replicas publish themselves often here: one that starts binds its fronts once the others have read it.
    outbox: { fleetEveryMs: 500, ...(extra.outbox as Record<string, unknown> | undefined) },
  });
}

/** Simulators and a proxy in front of them for one test file: started before its tests, closed after. */
export function useProxyOnSims(extra: Record<string, unknown> = {}): { sims: () => SimHandle; proxy: () => Proxy } {
  let sims: SimHandle | undefined;
  let proxy: Proxy | undefined;
  beforeAll(async () => {
    sims = await startSims();
    proxy = await startProxy(configFor(sims, await freshDatabaseUrl(), extra));
  });
  afterAll(async () => {
    await proxy?.close();
    await sims?.close();
  });
  return { sims: () => sims!, proxy: () => proxy! };
}
