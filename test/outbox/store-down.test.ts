/**
 * The state store unreachable for 20 s (a TCP relay in front of PostgreSQL, cut): agents are served from
 * the primary throughout, health says degraded, writes wait in memory and reach the orchestrator, in
 * order, once the store is back.
 */
import { expect, it } from 'vitest';
import { routeRequest } from '../../src/routes/route.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { useRelayedStack } from './relayed.js';
import { expectBothSidesEqual, openRows, outboxLeft, sleep, waitUntil, WriteLoad } from './support.js';

const stack = useRelayedStack();

const health = async () => (await (await fetch(`${stack.proxy().httpUrl}/healthz`)).json()) as { status: string; backends: Record<string, { ok: boolean }> };

it('serves agents through a 20 s store outage and stores every held write once it returns', async () => {
  const [sims, proxy, url, relay] = [stack.sims(), stack.proxy(), stack.url(), stack.relay()];
  const load = new WriteLoad({ prefix: 'storeless', agents: 8, intervalMs: 100, endpoint: () => proxy.fronts['session-memory']! });
  await sleep(1_500);
  expect((await health()).status).toBe('healthy');
  relay.cut();
  const cutAt = Date.now();
  await sleep(10_000);
  const during = await health();
  const held = await proxy.runner.secondary.stats();
  // A write held in memory has not reached the new side: its key must stay busy (no read served from
  // there, no comparison against it) until the write is attempted.
  const routed = routeRequest(
    'session-memory',
    Buffer.from(JSON.stringify({ action: 'add_interaction', session_id: 'storeless-held', role: 'user', content: 'held' })),
    1 << 20,
  );
  if (!routed.ok) throw new Error(routed.reason);
  let heldDone = false;
  const pending = await proxy.runner.secondary.open({ route: routed.route, side: 'new', done: () => (heldDone = true) });
  pending.settle('applied');
  await sleep(500);
  const heldDoneDuringOutage = heldDone;
  await sleep(20_000 - (Date.now() - cutAt));
  relay.restore();
  await sleep(1_500);
  await load.stop();
  // A wait that runs out prints the outbox's stats and open rows (clean-clone run 298: rows still open 10 s after the drain).
  const left = outboxLeft(proxy.runner.secondary, url);
  await waitUntil(async () => (await proxy.runner.secondary.stats()).memoryQueued === 0, 10_000, 'held writes stored', left);
  await proxy.runner.secondary.drain();
  await waitUntil(async () => (await openRows(url)).open === 0, 10_000, 'outbox drained', left);

  expect(heldDoneDuringOutage).toBe(false);
  expect(heldDone).toBe(true);
  expect(load.errors, load.report).toBe(0);
  expect(during.status).toBe('degraded');
  expect(during.backends['state store']!.ok).toBe(false);
  expect(held.storeUp).toBe(false);
  // Ten seconds in, about 8 agents x 10 writes/s x 10 s wait in memory.
  expect(held.memoryQueued).toBeGreaterThan(500);
  const after = await proxy.runner.secondary.stats();
  expect(after).toMatchObject({ storeUp: true, memoryQueued: 0, overflowed: 0, reordered: 0, depth: 0, parked: 0 });
  expect((await health()).status).toBe('healthy');
  expectBothSidesEqual(sims, load);
  // Each copy carries the time its write was acknowledged, not the time the store came back (10-20 s later).
  const skewMs = copySkewsMs(sims, load.sessions);
  expect(skewMs.length).toBeGreaterThan(500);
  expect(Math.max(...skewMs)).toBeLessThan(3_000);
}, 60_000);

/** For every interaction of the sessions, how far its orchestrator copy's time is from legacy's (same text, local ISO times). */
function copySkewsMs(sims: SimHandle, sessions: string[]): number[] {
  const copies = new Map<string, string>();
  for (const m of sims.models.orchestrator.memories.values()) copies.set(String(m.content.text), String(m.content.timestamp));
  return sessions.flatMap((sid) =>
    (sims.models['session-memory'].sessions.get(sid)?.interactions ?? []).map((i) => Math.abs(Date.parse(copies.get(i.content)!) - Date.parse(i.timestamp))),
  );
}
