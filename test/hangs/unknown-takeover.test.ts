/**
 * Two memshift processes on one store, ContextualMemoryAgent written first and hung: a replica killed with kill -9 after
 * it recorded a write's outcome there as unknown (its agent told of the timeout) and before the late reply came. The
 * survivor, taking the write over, cannot hear that reply and no read shows an interaction: it parks the copy for
 * reconciliation rather than make it on the orchestrator as if legacy had applied it. Killed before it recorded any
 * answer (the call under way), the survivor copies the write as such writes mostly were applied, and counts it apart:
 * the report's "assumed applied", the sides differing by it where legacy never had it. Killed after legacy answered, its
 * copies held up by a hung orchestrator, the survivor finds legacy's success recorded and nothing is assumed.
 */
import { expect, it } from 'vitest';
import { ReqClient } from '../support/zmq-client.js';
import { queryOnce } from '../outbox/support.js';
import { legacyRecords, newRecords } from './records.js';
import { interaction, openRows, useChildStack, waitUntil } from './support.js';

const LEASE_MS = 120_000;
/** Legacy's bound on a call: the second case's kill must land while the call is under way, on a busy machine too. */
const LEGACY_TIMEOUT_MS = 6_000;
/**
 * The orchestrator's: long enough that the third case's copy sent into its hang stays under way past the recording it
 * checks (a pump ending its round, its copies given back, hands its writes over with their primary's answer anyway);
 * no longer, since the slowest leg's bound (and a second) is how long a survivor leaves a dead owner's writes alone,
 * their calls possibly still landing, and every case waits that out.
 */
const ORCHESTRATOR_TIMEOUT_MS = 12_000;
/** The agent's wait for a reply: legacy's bound and then some (the second case's is never answered). */
const AGENT_TIMEOUT_MS = 2.5 * LEGACY_TIMEOUT_MS;
const CONTEXTUAL = 'contextual-memory';
/** The admin API's token: the second case reads the day's report there. */
const TOKEN = 'unknown-takeover-admin-token';
const {
  sims: simsOf,
  memshift,
  url: urlOf,
} = useChildStack({
  stage: 'dual-write',
  replicas: 2,
  services: [CONTEXTUAL],
  extra: [
    `outbox.leaseMs=${LEASE_MS}`,
    `services.${CONTEXTUAL}.legacy.timeoutMs=${LEGACY_TIMEOUT_MS}`,
    `orchestrator.timeoutMs=${ORCHESTRATOR_TIMEOUT_MS}`,
    `admin.token=${TOKEN}`,
  ],
});

/** The store's count of writes taken over and copied as applied with nothing to tell (outcome `assumed`). */
const assumed = async (url: string) =>
  Number(
    (
      await queryOnce<{ n: string }>(url, `SELECT coalesce(sum(count), 0) AS n FROM unknown_outcomes WHERE service = $1 AND outcome = 'assumed'`, [CONTEXTUAL])
    )[0]!.n,
  );

const rowsOf = (url: string, key: string) =>
  queryOnce<{ status: string; primary_unknown: boolean; primary_ok: boolean | null; last_error: string | null }>(
    url,
    'SELECT status, primary_unknown, primary_ok, last_error FROM outbox WHERE service = $1 AND key = $2 ORDER BY seq',
    [CONTEXTUAL, key],
  );

/**
 * One case on `session`: #0 written and copied, ContextualMemoryAgent hung, then `run` with replica 0's agent (#1 is its
 * to send); afterwards legacy wakes and replica 0 is back, and legacy applies #1 late (the sides differ by it until then).
 */
async function withLegacyHung(session: string, run: (agent: ReqClient, key: { service: typeof CONTEXTUAL; key: string }) => Promise<void>): Promise<void> {
  const [sims, url, a] = [simsOf(), urlOf(), memshift(0)];
  const agent = new ReqClient(a.fronts[CONTEXTUAL]!, AGENT_TIMEOUT_MS);
  const key = { service: CONTEXTUAL, key: session } as const;
  try {
    expect(await agent.call(interaction(session, 0))).toBe(true);
    await waitUntil(async () => (await openRows(url)) === 0, 60_000, '#0 copied');
    await sims.applyFaults(CONTEXTUAL, { hang: true });
    await run(agent, key);
  } finally {
    agent.close();
    await sims.applyFaults(CONTEXTUAL, { hang: false });
    await a.restart();
  }
  await waitUntil(() => legacyRecords(sims, key).length === 2, 30_000, 'legacy applied #1 late');
}

it("parks a killed replica's write whose outcome on ContextualMemoryAgent it had recorded unknown, rather than copy it", async () => {
  const [sims, url, a] = [simsOf(), urlOf(), memshift(0)];
  await withLegacyHung('unknown-killed', async (agent, key) => {
    const rows = () => rowsOf(url, key.key);
    // memshift answers the agent an error once legacy's bound is up; the write's outcome there is unknown.
    expect(await agent.call(interaction(key.key, 1))).toMatchObject({ status: 'error' });
    await waitUntil(async () => (await rows())[1]?.primary_unknown === true, 30_000, "#1's outcome recorded unknown");
    await a.kill();
    // Well within the lease: the survivor takes the write over once the dead owner's lock is gone, legacy still hung.
    await waitUntil(async () => (await openRows(url)) === 0, LEASE_MS / 2, '#1 settled by the survivor');
    const [, second] = await rows();
    expect(second!.status).toBe('dead');
    expect(second!.last_error).toMatch(/outcome unknown on its primary, and contextual-memory offers no read that shows this write/);
    // Parked, as its reason says: the sides differ by it until a reconciliation (legacy applies it once it wakes).
    expect(newRecords(sims, key)).toEqual([`${key.key} #0`]);
    expect(await assumed(url)).toBe(0);
  });
}, 240_000);

it('copies a write whose replica was killed with its call to ContextualMemoryAgent under way, counted as assumed applied', async () => {
  const [sims, url, a, survivor] = [simsOf(), urlOf(), memshift(0), memshift(1)];
  const began = new Date();
  await withLegacyHung('unknown-unrecorded', async (agent, key) => {
    // Never answered: its replica dies with the call under way.
    const unanswered = agent.call(interaction(key.key, 1)).catch((err: unknown) => err);
    // The intent is stored before the call; the kill comes well within legacy's bound, before any outcome is recorded.
    await waitUntil(async () => (await rowsOf(url, key.key)).length === 2, 30_000, "#1's intent stored");
    await a.kill();
    const [, second] = await rowsOf(url, key.key);
    expect(second).toMatchObject({ primary_unknown: false, primary_ok: null });
    await waitUntil(async () => (await openRows(url)) === 0, LEASE_MS / 2, '#1 settled by the survivor');
    await unanswered;
    expect((await rowsOf(url, key.key))[1]!.status).toBe('done');
    // Copied; legacy applies it once it wakes, so here the assumption holds and the sides end alike.
    expect(newRecords(sims, key)).toEqual([`${key.key} #0`, `${key.key} #1`]);
    expect(await assumed(url)).toBe(1);
    const scrape = await (await fetch(`${survivor.http}/metrics`)).text();
    const line = scrape.split('\n').find((l) => l.startsWith('memshift_unknown_outcomes_resolved_total{') && l.includes('result="assumed"'));
    expect(line).toMatch(/service="contextual-memory".* 1$/);
    expect(survivor.child!.output()).toMatch(/copied as applied; if it never was, the sides differ by it/);
    // The day's report counts it (each UTC day's its own: a run across midnight has it in one of two).
    const days = [...new Set([began, new Date()].map((d) => d.toISOString().slice(0, 10)))];
    const reports = await Promise.all(
      days.map(async (day) => (await fetch(`${survivor.http}/admin/reports/${day}.md`, { headers: { authorization: `Bearer ${TOKEN}` } })).text()),
    );
    expect(reports.join('\n')).toMatch(/\| Unknown outcomes \/ settled \/ time to settle \| [^|]*, 1 assumed applied \(taken over\)/);
  });
}, 240_000);

it("copies a killed replica's writes that ContextualMemoryAgent answered, their copies held up by a hung orchestrator, not counted assumed", async () => {
  const [sims, url, a] = [simsOf(), urlOf(), memshift(0)];
  const session = 'acked-killed';
  const assumedBefore = await assumed(url);
  const agent = new ReqClient(a.fronts[CONTEXTUAL]!, 30_000);
  let killed = false;
  try {
    expect(await agent.call(interaction(session, 0))).toBe(true);
    await waitUntil(async () => (await openRows(url)) === 0, 60_000, '#0 copied');
    await sims.applyFaults('orchestrator', { hang: true });
    // Legacy applies and answers both: #1's copy is sent into the hang, #2's waits behind it.
    expect(await agent.call(interaction(session, 1))).toBe(true);
    expect(await agent.call(interaction(session, 2))).toBe(true);
    // Their primary's success is in the store while #1's copy is still under way (before: in the replica's memory alone
    // until that copy's timeout ended its key's round).
    const recorded = async () => {
      const rows = await rowsOf(url, session);
      return rows.length === 3 && rows.slice(1).every((r) => r.primary_ok === true && r.status !== 'done');
    };
    await waitUntil(recorded, ORCHESTRATOR_TIMEOUT_MS / 2, "#1's and #2's primary success recorded, their copies open");
    await a.kill();
    killed = true;
    await sims.applyFaults('orchestrator', { hang: false });
    await waitUntil(async () => (await openRows(url)) === 0, LEASE_MS / 2, 'both copies taken over and landed');
  } finally {
    agent.close();
    await sims.applyFaults('orchestrator', { hang: false });
    // Not killed (a wait above failed): it still serves, and its failure is the one to read.
    if (killed) await a.restart();
  }
  expect((await rowsOf(url, session)).map((r) => r.status)).toEqual(['done', 'done', 'done']);
  expect(newRecords(sims, { service: CONTEXTUAL, key: session })).toEqual([0, 1, 2].map((n) => `${session} #${n}`));
  // Copied as applied because they were: no read of ContextualMemoryAgent shows an interaction, and nothing was assumed.
  expect(await assumed(url)).toBe(assumedBefore);
}, 240_000);
