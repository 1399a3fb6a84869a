/**
 * For one test file or describe block: simulators, session-memory's flags at dual-write (plus `more`), a fresh
 * store behind a relay that can be cut or frozen, a proxy storing through the relay and, when asked for, a
 * second one storing directly (another replica, whose store never fails, with flags of its own from the same file);
 * both configured with `config` on top.
 * `startAway` has the relay cut or frozen before the proxy starts (the store out of reach or silent at start).
 */
import { afterAll, beforeAll } from 'vitest';
import { openFlags, type Flags } from '../../src/flags/source.js';
import { startProxy, type Proxy } from '../../src/proxy.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { Relay } from '../support/relay.js';
import { configFor, startSims } from '../support/stack.js';
import { dualWriteFlags } from './support.js';

export function useRelayedStack(more: string[] = [], o: { direct?: boolean; config?: Record<string, unknown>; startAway?: 'cut' | 'frozen' } = {}) {
  let sims: SimHandle | undefined;
  let flagsFile: Awaited<ReturnType<typeof dualWriteFlags>> | undefined;
  let flags: Flags | undefined;
  let url = '';
  let relay: Relay | undefined;
  let viaRelay: Proxy | undefined;
  let direct: Proxy | undefined;
  let directFlags: Flags | undefined;
  beforeAll(async () => {
    sims = await startSims();
    flagsFile = await dualWriteFlags(...more);
    flags = await openFlags({ file: flagsFile.file, env: {} });
    url = await freshDatabaseUrl();
    const relayed = await Relay.before(url);
    relay = relayed.relay;
    if (o.startAway === 'cut') relay.cut();
    if (o.startAway === 'frozen') relay.freeze();
    viaRelay = await startProxy(configFor(sims, relayed.url, o.config), { flags });
    // Flags of its own, as another replica's: a rollback held by one is not the other's.
    if (o.direct) {
      directFlags = await openFlags({ file: flagsFile.file, env: {} });
      direct = await startProxy(configFor(sims, url, o.config), { flags: directFlags });
    }
  });
  afterAll(async () => {
    relay?.thaw();
    await viaRelay?.close();
    await direct?.close();
    await relay?.close();
    await flags?.close();
    await directFlags?.close();
    await flagsFile?.dispose();
    await sims?.close();
  });
  return { sims: () => sims!, flags: () => flags!, url: () => url, relay: () => relay!, proxy: () => viaRelay!, direct: () => direct! };
}
