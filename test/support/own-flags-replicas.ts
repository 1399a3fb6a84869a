/**
 * For one test file: simulators, a fresh store, and replicas started by the test, each reading a flags file of its own
 * (a turn one replica has seen and another not yet), with TCP relays to put in front of what they reach; all closed after.
 */
import { afterAll, beforeAll } from 'vitest';
import type { Edits } from '../../src/flags/edit.js';
import { startProxy, type Proxy } from '../../src/proxy.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { TempFlags } from '../flags/helpers.js';
import { freshDatabaseUrl } from './database.js';
import { Relay } from './relay.js';
import { configFor, startSims } from './stack.js';

/** Outbox config: a failed copy waits a minute for its next attempt, by any replica (it stays on its way meanwhile). */
export const SLOW_RETRY = { baseBackoffMs: 60_000, maxBackoffMs: 60_000 };

export interface OwnFlagsReplicas {
  sims(): SimHandle;
  /** The store they share. */
  url(): string;
  /** A replica at `edits` with `extra` config, storing at `storeUrl` (the store by default), and its flags file. */
  start(edits: Edits, extra?: Record<string, unknown>, storeUrl?: string): Promise<{ proxy: Proxy; flags: TempFlags }>;
  /** A relay in front of a ZeroMQ endpoint (`tcp://host:port`), and the endpoint through it. */
  relayTo(endpoint: string): Promise<{ relay: Relay; endpoint: string }>;
  /** A relay in front of the store, and its URL through it. */
  relayToStore(): Promise<{ relay: Relay; url: string }>;
}

export function useOwnFlagsReplicas(): OwnFlagsReplicas {
  let sims: SimHandle | undefined;
  let url = '';
  const flags: TempFlags[] = [];
  const proxies: Proxy[] = [];
  const relays: Relay[] = [];
  beforeAll(async () => {
    sims = await startSims();
    url = await freshDatabaseUrl();
  }, 60_000);
  afterAll(async () => {
    for (const r of relays) r.thaw();
    await Promise.all(proxies.map((p) => p.close()));
    await Promise.all(relays.map((r) => r.close()));
    await Promise.all(flags.map((f) => f.dispose()));
    await sims?.close();
  });
  const kept = <T extends { relay: Relay }>(r: T): T => {
    relays.push(r.relay);
    return r;
  };
  return {
    sims: () => sims!,
    url: () => url,
    async start(edits, extra = {}, storeUrl = url) {
      const t = await TempFlags.create(edits);
      flags.push(t);
      const proxy = await startProxy(configFor(sims!, storeUrl, extra), { flags: await t.open() });
      proxies.push(proxy);
      return { proxy, flags: t };
    },
    async relayTo(endpoint) {
      const at = new URL(endpoint.replace(/^tcp:/, 'http:'));
      const relay = await Relay.start({ host: at.hostname, port: Number(at.port) });
      return kept({ relay, endpoint: `tcp://127.0.0.1:${relay.port}` });
    },
    relayToStore: async () => kept(await Relay.before(url)),
  };
}
