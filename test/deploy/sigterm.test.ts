/**
 * SIGTERM under a dual-write load, as Kubernetes stops a pod: /readyz turns 503 while both fronts keep
 * answering through the drain window, no agent request is lost or answered with an error, the process exits 0,
 * and no outbox claim is left to expire: a successor finishes every write long before a lease could run out.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import pg from 'pg';
import { startSessionProxy } from '../support/session-proxy.js';
import { HEALTH_CHECK, type Child } from '../../src/tools/bench/processes.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { startSims } from '../support/stack.js';
import { describeOpenRows, dualWriteFlags, expectBothSidesEqual, openRows, waitUntil, WriteLoad } from '../outbox/support.js';

const DRAIN_MS = 4_000;
// A claim left behind would hold its write this long: far past the successor's deadline below.
const LEASE_MS = 120_000;

let sims: SimHandle;
let flagsFile: Awaited<ReturnType<typeof dualWriteFlags>>;
let url: string;
let front: string;
const children: Child[] = [];

async function startMemshift(drainMs: number): Promise<{ child: Child; http: string }> {
  // The first start binds a port of the system's choosing; the successor binds it again, as agents keep their endpoint.
  const started = await startSessionProxy(sims, front, [
    `store.url=${url}`,
    `flags.file=${flagsFile.file}`,
    `outbox.leaseMs=${LEASE_MS}`,
    `shutdown.drainMs=${drainMs}`,
  ]);
  children.push(started.child);
  front = started.front;
  return started;
}

beforeAll(async () => {
  // A slow orchestrator keeps secondary writes (and their outbox claims) in flight when the signal comes.
  sims = await startSims({ faults: { orchestrator: { latencyMs: 60, jitterMs: 40 } } });
  flagsFile = await dualWriteFlags();
  url = await freshDatabaseUrl();
  front = 'tcp://127.0.0.1:*';
}, 60_000);
afterAll(async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL')));
  await flagsFile?.dispose();
  await sims?.close();
});

const status = async (url: string, init?: RequestInit) => (await fetch(url, init)).status;

it('drains on SIGTERM: every request answered, the process exits 0, no claim left to expire', async () => {
  const { child, http } = await startMemshift(DRAIN_MS);
  const load = new WriteLoad({ prefix: 'sigterm', agents: 8, intervalMs: 200, timeoutMs: 20_000, endpoint: () => front });
  await waitUntil(() => load.ackedCount > 100, 30_000, 'load under way');
  const exited = new Promise<number | null>((resolve) => child.proc.once('exit', (code) => resolve(code)));

  child.proc.kill('SIGTERM');
  const ackedAtSignal = load.ackedCount;
  // Readiness goes first; both fronts still answer while it spreads.
  await waitUntil(async () => (await status(`${http}/readyz`)) === 503, DRAIN_MS / 2, '/readyz 503 after SIGTERM');
  expect(await status(`${http}/v1/session-memory`, { method: 'POST', body: HEALTH_CHECK })).toBe(200);
  await waitUntil(() => load.ackedCount > ackedAtSignal + 20, DRAIN_MS / 2, 'writes acknowledged during the drain');
  // The agents move away within the window (as the Service's endpoints drop this pod); what they sent is answered.
  await load.stop();
  expect(await exited, child.output()).toBe(0);

  expect(load.errors, 'requests lost or answered with an error').toBe(0);
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    // Claimed rows handed back, and writes stored but not yet taken made due, not held for a lease.
    const { rows } = await db.query<{ claimed: string; held: string; open: string }>(
      `SELECT count(*) FILTER (WHERE status = 'inflight') AS claimed,
              count(*) FILTER (WHERE status = 'pending' AND next_attempt_at > now() + interval '10 seconds') AS held,
              count(*) FILTER (WHERE status IN ('pending', 'inflight')) AS open FROM outbox`,
    );
    expect(rows[0], 'claims left behind').toMatchObject({ claimed: '0', held: '0' });
  } finally {
    await db.end();
  }

  // A successor applies what was left at once (about 4 s here; a busy CI host took over 30 s once): a claim left to
  // expire would hold its key for LEASE_MS, past this deadline.
  const successor = await startMemshift(0);
  await waitUntil(
    async () => (await openRows(url)).open === 0,
    LEASE_MS - 30_000,
    'outbox drained by the successor',
    async () => `${await describeOpenRows(url)}\n--- successor:\n${successor.child.output().slice(-4000)}`,
  );
  expectBothSidesEqual(sims, load);
}, 240_000);
