/**
 * Two proxies on one state store, agents alternating between them, the orchestrator flapping: every write
 * is applied exactly once and in order per key, and both replicas take part.
 */
import { expect, it } from 'vitest';
import pg from 'pg';
import { expectBothSidesEqual, useDualWriteStack, openRows, sleep, waitUntil, WriteLoad } from './support.js';

// Short backoff so retries land inside the up phases.
const stack = useDualWriteStack(2, { outbox: { maxBackoffMs: 800 } });

it('applies every write once, in order per key, with two replicas and a flapping orchestrator', async () => {
  const [sims, proxies, url] = [stack.sims(), stack.proxies(), stack.url()];
  const load = new WriteLoad({
    prefix: 'replica',
    agents: 10,
    intervalMs: 40,
    // Each agent's consecutive writes go to alternate replicas: order per key has to hold across them.
    endpoint: (a, n) => proxies[(a + n) % 2]!.fronts['session-memory']!,
  });
  // Each flap: the orchestrator fails requests, goes away, comes back. It fails before going away so that no
  // write is in its hands, applied, as its socket closes: such a write would be replayed (at least once).
  for (let i = 0; i < 5; i++) {
    await sleep(600);
    await sims.applyFaults('orchestrator', { errorRate: 1 });
    await sleep(100);
    await sims.down('orchestrator');
    await sleep(600);
    await sims.applyFaults('orchestrator', { down: false, errorRate: 0 });
  }
  await sleep(500);
  await load.stop();
  await waitUntil(async () => (await openRows(url)).open === 0, 15_000, 'outbox drained');
  await Promise.all(proxies.map((p) => p.runner.secondary.drain()));

  const db = new pg.Client({ connectionString: url });
  await db.connect();
  const { rows } = await db.query<{ owner: string; n: string; retried: string }>(
    `SELECT owner, count(*) AS n, count(*) FILTER (WHERE attempts > 1) AS retried FROM outbox WHERE status = 'done' GROUP BY owner`,
  );
  await db.end();
  const rowsDone = rows.reduce((a, r) => a + Number(r.n), 0);

  expect(load.errors).toBe(0);
  expect(rows.length, 'replicas that applied writes').toBe(2);
  expect(
    rows.reduce((a, r) => a + Number(r.retried), 0),
    'writes retried across the outages',
  ).toBeGreaterThan(0);
  expect((await openRows(url)).dead).toBe(0);
  // One row per acknowledged write (plus each agent's create_session), each applied once.
  expect(rowsDone).toBe(load.ackedCount + load.sessions.length);
  expectBothSidesEqual(sims, load);
}, 60_000);
