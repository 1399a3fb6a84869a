/**
 * Unknown outcomes of ContextualMemoryAgent's writes against simulators that hang or restart: its decisions, which its
 * snapshot shows, are looked up; its interactions, which no read shows, are settled by the late reply to their call
 * where one comes, and parked for reconciliation where none does.
 */
import { afterEach, expect, it } from 'vitest';
import { flagName } from '../../src/flags/names.js';
import { startMigrationStack, type MigrationStack } from '../support/migration.js';
import { untilOrchestratorAnswers } from '../support/breaker.js';
import { legacyRecords, newRecords } from '../hangs/records.js';
import { queryOnce, sleep, waitUntil } from './support.js';
import { drained, hung, writeAll } from './unknown-support.js';

let stack: MigrationStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const CONTEXTUAL = 'contextual-memory';

/** The agent answers a bare true, or as deployed the error its loop raises on it after the write. */
const acked = (reply: unknown) => reply === true || String((reply as { message?: unknown } | undefined)?.message).includes("has no attribute 'get'");

/** A contextual-memory agent recording decisions `d<n>` in one session. */
const decide = (s: MigrationStack, session: string, from: number, count: number, timeoutMs?: number) =>
  writeAll(
    s,
    {
      service: CONTEXTUAL,
      request: (n) => ({ action: 'record_decision', session_id: session, decision: `d${n}` }),
      acked,
    },
    from,
    count,
    timeoutMs,
  );

/** The decisions of a session in both snapshots, and its decision memories on the orchestrator, in order. */
async function decisionsEverywhere(s: MigrationStack, session: string) {
  const decisions = (reply: unknown) => (reply as { key_decisions: { decision: string }[] }).key_decisions.map((d) => d.decision);
  const memories = [...s.sims.models.orchestrator.memories.values()].filter((m) => m.is_active && m.tags.includes('decision'));
  return {
    legacy: decisions(s.readLegacy(CONTEXTUAL, { action: 'get_context', session_id: session })),
    fresh: decisions(await s.readNew(CONTEXTUAL, { action: 'get_context', session_id: session })),
    stored: memories.map((m) => (m.content as { text: string }).text),
  };
}

it("legacy primary, orchestrator hung: every contextual decision reaches new's snapshot, once and in order", async () => {
  stack = await startMigrationStack({ [flagName(CONTEXTUAL, 'dual-write')]: { enabled: true } });
  const s = stack;
  const acked = await decide(s, 'hang-e', 0, 1);
  await drained(s);
  // Each decision is two orchestrator writes (its memory, then the snapshot): the hang leaves the first applied late
  // and the second never sent, for the look-up to find.
  acked.push(...(await hung(s, 'orchestrator', 6_000, () => decide(s, 'hang-e', 1, 4))));
  acked.push(...(await decide(s, 'hang-e', 5, 3)));
  await drained(s);

  expect(acked).toEqual([...Array(8).keys()]);
  const { legacy, fresh, stored } = await decisionsEverywhere(s, 'hang-e');
  expect(legacy).toEqual(acked.map((n) => `d${n}`));
  expect(fresh).toEqual(legacy);
  expect(stored).toEqual(legacy);
  expect(s.proxy.runner.stats.of(CONTEXTUAL).resolvedApplied).toBeGreaterThanOrEqual(1);
}, 90_000);

it('new primary, orchestrator hung: a contextual decision the agent saw time out takes its place on both sides, once', async () => {
  stack = await startMigrationStack({
    [flagName(CONTEXTUAL, 'dual-write')]: { enabled: true },
    [flagName(CONTEXTUAL, 'new-primary')]: { enabled: true },
  });
  const s = stack;
  expect(await decide(s, 'hang-f', 0, 1)).toEqual([0]);
  await drained(s);
  // memshift answers the agent with an error; the orchestrator stores the decision's memory on waking, its snapshot
  // update never sent; the agent goes on, so its later decisions may be in the snapshot before the look-up runs.
  expect(await hung(s, 'orchestrator', 4_000, () => decide(s, 'hang-f', 1, 1, 8_000))).toEqual([]);
  // Its calls and the outbox's look-ups timed out while it hung and may have opened the breaker (agents refused at
  // once until a trial call succeeds): the agent goes on once a call has closed it.
  await untilOrchestratorAnswers(s.proxy.legs.orchestrator);
  expect(await decide(s, 'hang-f', 2, 3)).toEqual([2, 3, 4]);
  await drained(s);

  const { legacy, fresh, stored } = await decisionsEverywhere(s, 'hang-f');
  expect(fresh).toEqual(['d0', 'd1', 'd2', 'd3', 'd4']);
  expect(legacy).toEqual(fresh);
  expect(stored).toEqual(fresh);
}, 90_000);

/** A contextual-memory agent adding user queries `<session> #<n>` to one session. */
const interact = (s: MigrationStack, session: string, from: number, count: number, timeoutMs?: number) =>
  writeAll(
    s,
    {
      service: CONTEXTUAL,
      request: (n) => ({ action: 'add_interaction', session_id: session, type: 'user_query', content: `${session} #${n}` }),
      acked,
    },
    from,
    count,
    timeoutMs,
  );

const interactions = (s: MigrationStack, session: string) => {
  const agent = { service: CONTEXTUAL, key: session } as const;
  return { legacy: legacyRecords(s.sims, agent), fresh: newRecords(s.sims, agent) };
};

/** The session's outbox rows, oldest first; read on a connection of their own, so also once memshift has closed. */
const rowsOf = (s: MigrationStack, session: string) =>
  queryOnce<{ status: string; last_error: string | null }>(
    s.databaseUrl,
    "SELECT status, last_error FROM outbox WHERE service = 'contextual-memory' AND key = $1 ORDER BY seq",
    [session],
  );

// ContextualMemoryAgent offers no read that shows an interaction: an add_interaction whose outcome there is unknown
// is known only by the reply to the call itself.
it('legacy primary hung: an interaction the agent saw time out, answered by legacy once it woke, reaches new in its place', async () => {
  stack = await startMigrationStack({ [flagName(CONTEXTUAL, 'dual-write')]: { enabled: true } });
  const s = stack;
  expect(await interact(s, 'late-a', 0, 1)).toEqual([0]);
  await drained(s);
  // Legacy takes #1 in and answers it 4 s on, past the leg's 2 s: the agent hears an error, memshift the late reply.
  expect(await hung(s, CONTEXTUAL, 4_000, () => interact(s, 'late-a', 1, 1, 8_000))).toEqual([]);
  expect(await interact(s, 'late-a', 2, 1)).toEqual([2]);
  await drained(s);

  const { legacy, fresh } = interactions(s, 'late-a');
  expect(legacy).toEqual(['late-a #0', 'late-a #1', 'late-a #2']);
  expect(fresh).toEqual(legacy);
  expect((await rowsOf(s, 'late-a')).map((r) => r.status)).toEqual(['done', 'done', 'done']);
}, 90_000);

it('legacy primary restarting with an interaction in hand: no reply ever comes, so its copy is parked for reconciliation, not made', async () => {
  stack = await startMigrationStack({ [flagName(CONTEXTUAL, 'dual-write')]: { enabled: true } });
  const s = stack;
  expect(await interact(s, 'late-b', 0, 1)).toEqual([0]);
  await drained(s);
  // Legacy takes #1 in, hung; its process ends (applying what it had in hand, its reply lost with it) and comes back.
  await s.sims.applyFaults(CONTEXTUAL, { hang: true });
  const lost = interact(s, 'late-b', 1, 1, 8_000);
  await sleep(500);
  await s.sims.applyFaults(CONTEXTUAL, { down: true });
  await s.sims.applyFaults(CONTEXTUAL, { down: false, hang: false });
  expect(await lost).toEqual([]);
  // The write's copy must not go to the orchestrator: had the restart come a moment sooner, legacy would not hold it.
  await waitUntil(async () => (await rowsOf(s, 'late-b'))[1]?.status === 'dead', 60_000, "#1's copy parked");
  expect(await interact(s, 'late-b', 2, 1)).toEqual([2]);
  await drained(s);

  const rows = await rowsOf(s, 'late-b');
  expect(rows.map((r) => r.status)).toEqual(['done', 'dead', 'done']);
  expect(rows[1]!.last_error).toMatch(/outcome unknown on its primary, and contextual-memory offers no read that shows this write/);
  const { legacy, fresh } = interactions(s, 'late-b');
  expect(legacy).toEqual(['late-b #0', 'late-b #1', 'late-b #2']);
  expect(fresh).toEqual(['late-b #0', 'late-b #2']);
}, 90_000);

// At new-primary the outbox copies each interaction to legacy: a copy whose call timed out is known by its late reply too.
const NEW_PRIMARY = { [flagName(CONTEXTUAL, 'dual-write')]: { enabled: true }, [flagName(CONTEXTUAL, 'new-primary')]: { enabled: true } };

it("new primary, legacy hung: an interaction's copy that legacy answered once it woke is done, in its place, not parked", async () => {
  stack = await startMigrationStack(NEW_PRIMARY);
  const s = stack;
  expect(await interact(s, 'late-c', 0, 1)).toEqual([0]);
  await drained(s);
  // The orchestrator acknowledges #1; its copy reaches legacy, which answers it 4 s on, past the leg's 2 s.
  expect(await hung(s, CONTEXTUAL, 4_000, () => interact(s, 'late-c', 1, 1))).toEqual([1]);
  expect(await interact(s, 'late-c', 2, 1)).toEqual([2]);
  await drained(s);

  expect((await rowsOf(s, 'late-c')).map((r) => r.status)).toEqual(['done', 'done', 'done']);
  const { legacy, fresh } = interactions(s, 'late-c');
  expect(fresh).toEqual(['late-c #0', 'late-c #1', 'late-c #2']);
  expect(legacy).toEqual(fresh);
}, 90_000);

it("new primary, legacy restarting with an interaction's copy in hand: no reply comes, so the copy is parked, not sent again", async () => {
  stack = await startMigrationStack(NEW_PRIMARY);
  const s = stack;
  expect(await interact(s, 'late-d', 0, 1)).toEqual([0]);
  await drained(s);
  await s.sims.applyFaults(CONTEXTUAL, { hang: true });
  expect(await interact(s, 'late-d', 1, 1)).toEqual([1]);
  // Its copy reaches legacy, hung; the process ends (applying it, its reply lost with it) and comes back.
  await sleep(500);
  await s.sims.applyFaults(CONTEXTUAL, { down: true });
  await s.sims.applyFaults(CONTEXTUAL, { down: false, hang: false });
  await waitUntil(async () => (await rowsOf(s, 'late-d'))[1]?.status === 'dead', 60_000, "#1's copy parked");
  expect(await interact(s, 'late-d', 2, 1)).toEqual([2]);
  await drained(s);

  const rows = await rowsOf(s, 'late-d');
  expect(rows.map((r) => r.status)).toEqual(['done', 'dead', 'done']);
  expect(rows[1]!.last_error).toMatch(/outcome unknown, and contextual-memory offers no read that shows this write/);
  // Sent once: legacy holds it once (it applied it), where sending it again would have made it twice.
  expect(interactions(s, 'late-d').legacy).toEqual(['late-d #0', 'late-d #1', 'late-d #2']);
}, 90_000);

it("shutting down while an interaction's copy waits for legacy's late reply: the stop does not wait for it, and the copy is parked", async () => {
  // A lease far longer than the test: the wait for the late reply is bounded by the stop alone.
  stack = await startMigrationStack(NEW_PRIMARY, { outbox: { leaseMs: 600_000 } });
  const s = stack;
  expect(await interact(s, 'late-e', 0, 1)).toEqual([0]);
  await drained(s);
  await s.sims.applyFaults(CONTEXTUAL, { hang: true });
  expect(await interact(s, 'late-e', 1, 1)).toEqual([1]);
  // Its copy's call times out (2 s); the outbox then waits for the reply under its claim.
  const url = s.databaseUrl;
  await waitUntil(
    async () => (await queryOnce<{ n: string }>(url, "SELECT count(*) AS n FROM outbox WHERE key = 'late-e' AND attempts > 0 AND open"))[0]!.n === '1',
    30_000,
    "#1's copy attempted",
  );
  await sleep(2_500);
  let closed = false;
  stack = undefined;
  const closing = s.close().then(() => (closed = true));
  await waitUntil(() => closed, 60_000, 'memshift closed while legacy still hangs');
  await closing;
  const rows = await rowsOf(s, 'late-e');
  expect(rows.map((r) => r.status)).toEqual(['done', 'dead']);
  expect(rows[1]!.last_error).toMatch(/outcome unknown, and contextual-memory offers no read that shows this write/);
}, 120_000);
