/**
 * Acceptance, crash soak: 8 writers at about 300 writes/s over session-memory and jarvis-memory, memshift
 * killed with SIGKILL after each 10 s of serving and restarted, five times. After the drain the two sides hold
 * exactly the same writes, those memshift died before acknowledging included, none twice; `memshift reconcile`
 * agrees.
 */
import { expect, it } from 'vitest';
import { expectSidesAgree, openRows, sleep, useChildStack, waitUntil, WRITTEN } from './support.js';
import { Load } from './load.js';

// Both sides persisted too (the legacy files, the orchestrator's tables), for the reconciler to read.
const stack = useChildStack({ stage: 'dual-write', sims: ({ url, dir }) => ({ storage: { dataDir: dir, orchestratorDatabaseUrl: url, writeDelayMs: 50 } }) });

it('holds exactly the same writes on both sides after five kill -9 restarts under load', async () => {
  const [sims, url, memshift] = [stack.sims(), stack.url(), stack.memshift()];
  const load = new Load({ prefix: 'soak', agents: { 'session-memory': 4, 'jarvis-memory': 4 }, intervalMs: 27, endpoint: (s) => memshift.fronts[s] });
  // Six lives of 10 s each, from when memshift serves to when it is killed (or the load stops).
  const lives: [number, number][] = [];
  for (let k = 0; k < 6; k++) {
    if (k > 0) {
      await memshift.kill();
      await memshift.restart();
    }
    const servingSince = Date.now();
    await sleep(10_000);
    lives.push([servingSince, Date.now()]);
  }
  await load.stop();
  await waitUntil(async () => (await openRows(url)) === 0, 120_000, 'outbox drained');

  // Under load in every life: writes acknowledged between each restart and the next kill, thousands in all.
  for (const [i, [from, to]] of lives.entries()) expect(load.ackedBetween(from, to), `writes acknowledged in life ${i + 1}`).toBeGreaterThan(100);
  expect(load.acked).toBeGreaterThan(2_000);
  expectSidesAgree(sims, load);
  await sims.flush();
  for (const service of WRITTEN) {
    const r = await stack.reconcile(service);
    expect(r.code, `${service}: ${r.output}`).toBe(0);
  }
}, 300_000);
