/**
 * Two memshift processes on one store, leases of two minutes: a replica killed with kill -9 while the orchestrator hangs
 * leaves its writes' copies claimed; the survivor takes them over once the dead one's owner lock is gone and the
 * orchestrator answers, not at the end of their lease. A replica stopped (SIGSTOP) is alive: its writes stay its own.
 */
import pg from 'pg';
import { expect, it } from 'vitest';
import { expectSidesAgree, openRows, sleep, useChildStack, waitUntil } from './support.js';
import { Load } from './load.js';

const LEASE_MS = 120_000;
const {
  sims: simsOf,
  memshift,
  url: urlOf,
} = useChildStack({ stage: 'dual-write', replicas: 2, extra: [`outbox.leaseMs=${LEASE_MS}`, 'outbox.intentTimeoutMs=5000'] });

/** The store's open writes held by the replica with this pid (its claims and its stored intents). */
async function heldBy(url: string, pid: number): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM outbox WHERE open AND owner LIKE $1`, [`locked:%:${pid}:%`]);
    return Number(rows[0]!.n);
  } finally {
    await client.end();
  }
}

/** Agents writing through replica `i` only while the orchestrator hangs, until the replica holds some of their copies. */
async function loadWhileHung(i: number, prefix: string): Promise<Load> {
  const [sims, url, m] = [simsOf(), urlOf(), memshift(i)];
  await sims.applyFaults('orchestrator', { hang: true });
  const load = new Load({ prefix, agents: { 'session-memory': 3, 'jarvis-memory': 3 }, intervalMs: 100, endpoint: (s) => memshift(i).fronts[s] });
  await waitUntil(async () => load.acked >= 12 && (await heldBy(url, m.pid)) >= 12, 60_000, 'copies held by the replica');
  await load.stop();
  return load;
}

it("takes a killed replica's claimed copies over before their lease runs out", async () => {
  const [sims, url, a] = [simsOf(), urlOf(), memshift(0)];
  const load = await loadWhileHung(0, 'killed');
  await a.kill();
  try {
    await sims.applyFaults('orchestrator', { hang: false });
    // Well within the lease: only the dead owner's lock, gone with it, lets the survivor take them now.
    await waitUntil(async () => (await openRows(url)) === 0, LEASE_MS / 2, 'outbox drained by the survivor');
    expect(load.acked).toBeGreaterThanOrEqual(12);
    expectSidesAgree(sims, load);
  } finally {
    await a.restart();
  }
}, 240_000);

it("leaves a stopped replica's copies to it, and it finishes them once continued", async () => {
  const [sims, url, a] = [simsOf(), urlOf(), memshift(0)];
  const load = await loadWhileHung(0, 'stopped');
  process.kill(a.pid, 'SIGSTOP');
  try {
    await sims.applyFaults('orchestrator', { hang: false });
    const held = await heldBy(url, a.pid);
    // The survivor's polls come every 250 ms and a dead owner's writes would be taken 3 s after their calls began.
    await sleep(8_000);
    expect(await heldBy(url, a.pid)).toBe(held);
  } finally {
    process.kill(a.pid, 'SIGCONT');
  }
  await waitUntil(async () => (await openRows(url)) === 0, LEASE_MS / 2, 'outbox drained by the continued replica');
  expect(load.acked).toBeGreaterThanOrEqual(12);
  expectSidesAgree(sims, load);
}, 240_000);
