/**
 * The state store out of reach when memshift starts (a pod restarted during a store outage): it starts all the
 * same, serves its agents, says degraded and holds the dual-write's secondary writes in memory; once the store
 * answers it makes its tables (a fresh database here) and stores every held write once, in order. The store
 * refusing connections (cut) and accepting them but answering nothing (frozen: the start must not wait on it).
 * A store that answers with a refusal (no such database) still fails the start: that is a configuration to fix.
 */
import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { useRelayedStack } from './relayed.js';
import { expectBothSidesEqual, openRows, waitUntil, WriteLoad } from './support.js';

for (const away of ['cut', 'frozen'] as const) {
  describe(`the store ${away} at start`, () => {
    const stack = useRelayedStack([], { startAway: away });
    const health = async () =>
      (await (await fetch(`${stack.proxy().httpUrl}/healthz`)).json()) as { status: string; backends: Record<string, { ok: boolean; error?: string }> };

    it('serves agents without it, then makes its tables and stores every held write once it answers', async () => {
      const [sims, proxy, url, relay] = [stack.sims(), stack.proxy(), stack.url(), stack.relay()];
      const load = new WriteLoad({ prefix: `away-${away}`, agents: 6, intervalMs: 100, endpoint: () => proxy.fronts['session-memory']! });
      await waitUntil(() => load.ackedCount >= 60, 30_000, 'writes acknowledged while the store is away');
      const during = await health();
      const held = await proxy.runner.secondary.stats();
      const ackedAway = load.ackedCount;
      if (away === 'cut') relay.restore();
      else relay.thaw();
      await waitUntil(() => load.ackedCount >= ackedAway + 60, 30_000, 'writes acknowledged after the store returned');
      await load.stop();
      await waitUntil(async () => (await proxy.runner.secondary.stats()).memoryQueued === 0, 30_000, 'held writes stored');
      await proxy.runner.secondary.drain();
      await waitUntil(async () => (await openRows(url)).open === 0, 30_000, 'outbox drained');
      await waitUntil(async () => (await health()).status === 'healthy', 30_000, 'healthy again');

      expect(load.errors, load.report).toBe(0);
      expect(during.status).toBe('degraded');
      expect(during.backends['state store']).toMatchObject({ ok: false, error: expect.stringContaining('tables are not made yet') });
      expect(held.storeUp).toBe(false);
      expect(held.memoryQueued).toBeGreaterThanOrEqual(50);
      expect(await proxy.runner.secondary.stats()).toMatchObject({ storeUp: true, memoryQueued: 0, overflowed: 0, reordered: 0, depth: 0, parked: 0 });
      expectBothSidesEqual(sims, load);
    }, 120_000);
  });
}

it('still fails the start on a refusal: a database that does not exist', async () => {
  const url = new URL(await freshDatabaseUrl());
  url.pathname = `${url.pathname}_missing`;
  await expect(openStore({ url: url.toString(), whenAway: 'wait' })).rejects.toThrow(/does not exist/);
});
