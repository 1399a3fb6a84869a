/**
 * Acceptance, replicas: two memshift processes on one store, agents alternating between them, the
 * orchestrator hung 15 s and one replica killed (SIGKILL) during the hang: the survivor takes its claims
 * over, and every write still lands once and in order.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SimHandle } from '../../src/sim/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { startSims } from '../support/stack.js';
import { expectSidesAgree, flagsWith, Load, MemshiftChild, openRows, sleep, stageFlags, waitUntil } from './support.js';

let sims: SimHandle;
let flags: Awaited<ReturnType<typeof flagsWith>>;
let url: string;
let replicas: MemshiftChild[] = [];

beforeAll(async () => {
  sims = await startSims();
  flags = await flagsWith(stageFlags('dual-write'));
  url = await freshDatabaseUrl();
  replicas = [];
  for (let i = 0; i < 2; i++) replicas.push(await MemshiftChild.start(sims, { store: [`store.url=${url}`], flagsFile: flags.file }));
}, 90_000);
afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await flags?.dispose();
  await sims?.close();
});

it('keeps every write once and in order when a replica dies while the orchestrator hangs', async () => {
  const [a, b] = replicas as [MemshiftChild, MemshiftChild];
  let aAlive = true;
  // Alternating while both live; the survivor only once one is dead (as a load balancer would).
  const load = new Load({
    prefix: 'rep',
    agents: { 'session-memory': 8, 'jarvis-memory': 8 },
    intervalMs: 100,
    endpoint: (s, _a, n) => (aAlive && n % 2 === 0 ? a : b).fronts[s],
  });
  await sleep(1_500);
  await sims.applyFaults('orchestrator', { hang: true });
  await sleep(5_000);
  aAlive = false;
  await a.kill();
  await sleep(10_000);
  await sims.applyFaults('orchestrator', { hang: false });
  await sleep(2_000);
  await load.stop();
  await waitUntil(async () => (await openRows(url)) === 0, 120_000, 'outbox drained');

  expect(load.acked).toBeGreaterThan(500);
  expectSidesAgree(sims, load);
}, 180_000);
