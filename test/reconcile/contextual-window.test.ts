/**
 * Repairs of a contextual session past the agent's 50 interactions, as a copy parked for reconciliation leaves one: a
 * side lacking the newest interactions gets them appended (its window moves on, its snapshot made again), one lacking
 * an interaction among later ones has them written again after it (legacy: its whole window, after the orchestrator's
 * interaction before it, so that its snapshot is made over the same 51, as where its snapshot alone differs; the
 * orchestrator: those after the gap, removed first, its history before them kept, also where the one it lacks is
 * legacy's oldest), one holding an interaction whose copy to the truth is parked is not repaired from it (one whose every
 * interaction the truth holds is, as is one whose parked copy is of a write the truth holds), and a gap
 * legacy's protocol cannot mend (fewer than 50 interactions) is named with when it passes (50 newer interactions), and
 * passes then. At new-primary, legacy's decisions in another order than the truth's are given to the orchestrator,
 * legacy's extra ones never.
 * Over 300 lines: one live stack per stage, its cases of a window's repair side by side (each a chaos seed's shape).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { LegOrchestratorClient } from '../../src/services/orchestrator-client.js';
import { reconcileService } from '../../src/reconcile/sides.js';
import type { ReconcileResult } from '../../src/reconcile/reconcile.js';
import type { LegacyRequest } from '../../src/services/types.js';
import { createTranslators } from '../support/translators.js';
import { useLiveStack, type LiveStack } from '../support/live-stack.js';
import { ReqClient } from '../support/zmq-client.js';
import { send } from '../sim/helpers.js';

const SERVICE = 'contextual-memory';

type Summary = { conversation_summary: string; key_decisions: { decision: string }[] };

/** A code interaction carries metadata of two keys, as agents send it (jsonb keeps them in another order). */
const interaction = (session: string, content: string, type = 'user_query'): LegacyRequest => ({
  action: 'add_interaction',
  session_id: session,
  type,
  content,
  ...(type === 'code' ? { metadata: { language: 'python', n: content.length } } : {}),
});

/** Each interaction's type by its number. */
type TypeOf = (n: number) => string;
const queries: TypeOf = () => 'user_query';

/** `count` interactions of `session` through memshift (new-primary: the orchestrator, then legacy through the outbox), landed on both. */
async function throughMemshift(live: LiveStack, session: string, from: number, count: number, typeOf = queries): Promise<void> {
  const client = new ReqClient(live.proxy.fronts[SERVICE]!, 30_000);
  try {
    for (let n = from; n < from + count; n++) expect(await client.call(interaction(session, `${session} #${n}`, typeOf(n)))).toBe(true);
  } finally {
    client.close();
  }
  await expect.poll(async () => (await live.store.pool.query('SELECT 1 FROM outbox WHERE open')).rowCount, { timeout: 30_000 }).toBe(0);
}

/** A write on one side only: the orchestrator through a translator of the test's own, or the legacy agent itself. */
async function onlyOn(live: LiveStack, side: 'new' | 'legacy', request: LegacyRequest): Promise<void> {
  if (side === 'legacy') expect(await send(live.sims.endpoints[SERVICE], request)).toBe(true);
  else await createTranslators(new LegOrchestratorClient(live.leg), live.store.idMap)[SERVICE].handle(request, { createMissing: true });
}

/** 55 interactions of `session` through memshift, one more on `side` alone, then `later` more through memshift. */
async function withGap(live: LiveStack, session: string, side: 'new' | 'legacy', later: number, typeOf = queries): Promise<void> {
  await throughMemshift(live, session, 0, 55, typeOf);
  await onlyOn(live, side, interaction(session, `only ${side}`));
  if (later) await throughMemshift(live, session, 55, later, typeOf);
}

/** `session #from` .. as written, `count` of them. */
const numbered = (session: string, from: number, count: number) => Array.from({ length: count }, (_, i) => `${session} #${from + i}`);

/**
 * A copy of `request` towards `side` parked as the outbox parks one whose outcome ContextualMemoryAgent cannot show: a
 * row as the store holds it (the test's own, not the outbox's code). `primaryOk`: applied on its primary (true), or its
 * outcome there unknown (null).
 */
const parkCopy = (live: LiveStack, side: 'new' | 'legacy', request: LegacyRequest, primaryOk: true | null) =>
  live.store.pool.query(
    `INSERT INTO outbox (id, service, key, seq, action, side, request, status, primary_ok, primary_unknown, last_error)
     VALUES (gen_random_uuid(), $1, $2, 1000000, 'add_interaction', $3, $4, 'dead', $5, $6, 'outcome unknown: parked for reconciliation')`,
    [SERVICE, request.session_id, side, Buffer.from(JSON.stringify(request)), primaryOk, primaryOk === null],
  );

/**
 * #0-#4 of `session` through memshift, an interaction on the orchestrator alone ('only new'), #5 and #6; then a copy
 * to legacy of the interaction `parked` parked as the outbox parks one applied on the orchestrator first, whose outcome
 * ContextualMemoryAgent cannot show.
 */
async function aloneOnNewWithParked(live: LiveStack, session: string, parked: string): Promise<void> {
  await throughMemshift(live, session, 0, 5);
  await onlyOn(live, 'new', interaction(session, 'only new'));
  await throughMemshift(live, session, 5, 2);
  await parkCopy(live, 'legacy', interaction(session, parked), true);
}

const counts = (r: ReconcileResult) => ({ differing: r.run.differing, repaired: r.run.repaired, failed: r.run.repairFailed });

const reconcile = async (live: LiveStack, repair: boolean) => {
  await live.sims.flush();
  return reconcileService(live.config, live.store, live.proxy.flags, SERVICE, { repair });
};

/** The session's interactions on legacy (its 50 newest, oldest first) and its snapshot. */
const onLegacy = (live: LiveStack, session: string) => {
  const s = live.sims.models[SERVICE].sessions.get(session);
  return { contents: (s?.newestFirst ?? []).map((i) => i.content).reverse(), summary: s?.summary?.conversation_summary };
};

/** The session's interaction memories on the orchestrator, every one kept, oldest first. */
const onNew = (live: LiveStack, session: string) => {
  const o = live.sims.models.orchestrator;
  const ids = new Set([...o.sessions.values()].filter((s) => s.metadata.legacy_session_id === session).map((s) => s.session_id));
  return [...o.memories.values()].filter((m) => ids.has(m.session_id) && m.is_active && m.memory_type === 'context').map((m) => String(m.content.text));
};

describe('at new-primary (truth: the orchestrator)', () => {
  const live = useLiveStack(SERVICE, async () => {}, 'new-primary');

  it('appends the newest interaction legacy lacks (a copy parked at new-primary): its window and snapshot then the orchestrator', async () => {
    await withGap(live, 'w1', 'new', 0);
    const first = await reconcile(live, true);
    expect({ truth: first.run.truth, ...counts(first) }).toEqual({ truth: 'new', differing: 1, repaired: 1, failed: 0 });
    const legacy = onLegacy(live, 'w1');
    expect(legacy.contents).toEqual([...numbered('w1', 6, 49), 'only new']);
    // Made again over the 51 newest as the agent makes it: the one it had was over #4-#54.
    expect(legacy.summary).toContain('Total queries: 51\n');
    expect(legacy.summary).toContain('- only new...\n- w1 #54...');
    expect((await reconcile(live, false)).differences).toEqual([]);
  }, 120_000);

  it("writes legacy's whole window again where it lacks an interaction among later ones: then the orchestrator's, and its snapshot", async () => {
    // #8 is the orchestrator's 51st newest at the end, over which its snapshot was made with its 50 newest.
    await withGap(live, 'w3', 'new', 3, (n) => (n === 8 ? 'system_response' : 'user_query'));
    const first = await reconcile(live, true);
    expect(counts(first)).toEqual({ differing: 1, repaired: 1, failed: 0 });
    // No request of the agent inserts one: the orchestrator's 50 newest are added again, and the agent keeps those;
    // #8 is added before them, so that the agent's last snapshot is over the orchestrator's 51 (it was over legacy's
    // #57 and those 50: 51 queries and no response, chaos seed 105).
    expect(onLegacy(live, 'w3').contents).toEqual([...numbered('w3', 9, 46), 'only new', 'w3 #55', 'w3 #56', 'w3 #57']);
    expect(onLegacy(live, 'w3').summary).toContain('Total queries: 50\nTotal responses: 1\n');
    expect((await reconcile(live, false)).differences).toEqual([]);
  }, 120_000);

  it("writes legacy's whole window again where what it keeps follows an interaction not the orchestrator's one before it", async () => {
    // #54 a response: the orchestrator's one before its window at the end; legacy keeps #55 on, after its own extra one.
    const typeOf: TypeOf = (n) => (n === 54 ? 'system_response' : 'user_query');
    await throughMemshift(live, 'w10', 0, 55, typeOf);
    await onlyOn(live, 'legacy', interaction('w10', 'only legacy'));
    await throughMemshift(live, 'w10', 55, 49, typeOf);
    await onlyOn(live, 'new', interaction('w10', 'only new'));
    const first = await reconcile(live, true);
    expect(counts(first)).toEqual({ differing: 1, repaired: 1, failed: 0 });
    expect(onLegacy(live, 'w10').contents).toEqual([...numbered('w10', 55, 49), 'only new']);
    // Appending 'only new' alone, the agent made it over 'only legacy' and the 50: 51 queries and no response.
    expect(onLegacy(live, 'w10').summary).toContain('Total queries: 50\nTotal responses: 1\n');
    expect((await reconcile(live, false)).differences).toEqual([]);
  }, 120_000);

  it("makes legacy's snapshot again where it alone differs, made over another interaction before the same window", async () => {
    // #54 a response on the orchestrator before its window; legacy's one before the same window is its own extra query.
    const typeOf: TypeOf = (n) => (n === 54 ? 'system_response' : 'user_query');
    await throughMemshift(live, 'w13', 0, 55, typeOf);
    await onlyOn(live, 'legacy', interaction('w13', 'only legacy'));
    await throughMemshift(live, 'w13', 55, 50, typeOf);
    expect(onLegacy(live, 'w13').contents).toEqual(numbered('w13', 55, 50));
    expect(onLegacy(live, 'w13').summary).toContain('Total queries: 51\nTotal responses: 0\n');
    const first = await reconcile(live, true);
    expect(counts(first)).toEqual({ differing: 1, repaired: 1, failed: 0 });
    // Its window as it was, and its snapshot made over the orchestrator's 51 (seed 332: "no request of the service sets it").
    expect(onLegacy(live, 'w13').contents).toEqual(numbered('w13', 55, 50));
    expect(onLegacy(live, 'w13').summary).toContain('Total queries: 50\nTotal responses: 1\n');
    expect((await reconcile(live, false)).differences).toEqual([]);
  }, 120_000);

  it('names a gap among fewer than 50 interactions on legacy as not repairable until 50 newer ones are written, and it passes then', async () => {
    await throughMemshift(live, 'w4', 0, 20);
    await onlyOn(live, 'new', interaction('w4', 'only new'));
    await throughMemshift(live, 'w4', 20, 3);
    const first = await reconcile(live, true);
    expect({ differing: first.run.differing, failed: first.run.repairFailed }).toEqual({ differing: 1, failed: 1 });
    expect(first.differences[0]!.unrepaired).toMatch(/interactions are not the truth's with newer ones missing.*once 50 newer interactions are written/);
    // Legacy as it was: nothing sent it.
    expect(onLegacy(live, 'w4').contents).toEqual(numbered('w4', 0, 23));
    await throughMemshift(live, 'w4', 23, 50);
    expect((await reconcile(live, false)).differences).toEqual([]);
  }, 120_000);

  it("gives the orchestrator the interaction at legacy's end whose copy to it is parked, unknown on legacy: found applied there, its row done", async () => {
    // Served on legacy first (at a stage writing it first), its agent unanswered and no late reply heard: its copy to the
    // orchestrator parked with legacy's outcome unknown (seed 358, each contextual agent's last write). Then one more the
    // same way, among later ones: not at the end.
    await throughMemshift(live, 'w15', 0, 55);
    await onlyOn(live, 'legacy', interaction('w15', 'unknown on legacy'));
    await parkCopy(live, 'new', interaction('w15', 'unknown on legacy'), null);
    await throughMemshift(live, 'w16', 0, 55);
    await onlyOn(live, 'legacy', interaction('w16', 'unknown on legacy'));
    await parkCopy(live, 'new', interaction('w16', 'unknown on legacy'), null);
    await throughMemshift(live, 'w16', 55, 2);
    // Written a while before the run, as the chaos probe's reconciliation finds them (not writes on their way).
    await live.store.pool.query(`UPDATE outbox SET created_at = created_at - interval '1 minute' WHERE key IN ('w15', 'w16')`);
    const first = await reconcile(live, true);
    const byKey = new Map(first.differences.map((d) => [d.key, d]));
    expect({ truth: first.run.truth, ...counts(first) }).toEqual({ truth: 'new', differing: 2, repaired: 2, failed: 0 });
    expect(byKey.get('w15')).toMatchObject({ repaired: true, settled: 1 });
    expect(onNew(live, 'w15')).toEqual([...numbered('w15', 0, 55), 'unknown on legacy']);
    // Among later ones on legacy it cannot go to the orchestrator's end: legacy's window is written again as the
    // orchestrator's instead (as for a gap), the write left out of it, its row still parked.
    expect(byKey.get('w16')).toMatchObject({ repaired: true });
    expect(byKey.get('w16')!.settled).toBeUndefined();
    expect(onNew(live, 'w16')).toEqual(numbered('w16', 0, 57));
    expect(onLegacy(live, 'w16').contents).toEqual(numbered('w16', 7, 50));
    const rows = await live.store.pool.query(`SELECT key, status, primary_ok FROM outbox WHERE seq = 1000000 ORDER BY key`);
    expect(rows.rows).toEqual([
      { key: 'w15', status: 'done', primary_ok: true },
      { key: 'w16', status: 'dead', primary_ok: null },
    ]);
    expect((await reconcile(live, false)).differences).toEqual([]);
  }, 120_000);

  it("gives the orchestrator legacy's order where legacy holds the same decisions in another order, and only there", async () => {
    await throughMemshift(live, 'w8', 0, 55);
    const agent = new ReqClient(live.proxy.fronts[SERVICE]!, 30_000);
    const decide = (session: string, decision: string) => ({ action: 'record_decision', session_id: session, decision });
    // A decision whose outcome was unknown, found landed and copied after a later one: first on legacy, last on the orchestrator.
    await onlyOn(live, 'legacy', decide('w8', 'late'));
    expect(await agent.call(decide('w8', 'kept'))).toBe(true);
    await onlyOn(live, 'new', decide('w8', 'late'));
    // A decision on legacy alone among the others: legacy's protocol cannot remove it, and the truth does not take it.
    await throughMemshift(live, 'w9', 0, 3);
    expect(await agent.call(decide('w9', 'a'))).toBe(true);
    await onlyOn(live, 'legacy', decide('w9', 'only legacy'));
    expect(await agent.call(decide('w9', 'b'))).toBe(true);
    agent.close();
    await expect.poll(async () => (await live.store.pool.query('SELECT 1 FROM outbox WHERE open')).rowCount, { timeout: 30_000 }).toBe(0);
    // Agents write the orchestrator first here: without the write-order lock across replicas, it is not rewritten.
    const unordered = { ...live.config, outbox: { ...live.config.outbox, keyOrder: 'replica' as const } };
    const refused = await reconcileService(unordered, live.store, live.proxy.flags, SERVICE, { repair: true });
    expect(counts(refused)).toEqual({ differing: 2, repaired: 0, failed: 2 });
    expect(refused.differences.find((d) => d.key === 'w8')!.unrepaired).toMatch(/outbox\.keyOrder is not "replicas".*move the stage back/);
    const t = createTranslators(new LegOrchestratorClient(live.leg), live.store.idMap)[SERVICE];
    const read = (session: string) => ({ action: 'get_context', session_id: session, max_tokens: 100_000 });
    const decisions = async (session: string) => ((await t.handle(read(session), { createMissing: false })) as Summary).key_decisions.map((d) => d.decision);
    // An agent's write of the session holds its write-order lock (held here as one would): the rewrite waits for it.
    let release!: () => void;
    const writing = new Promise<void>((r) => (release = r));
    let began!: () => void;
    const begun = new Promise<void>((r) => (began = r));
    const agentWrite = live.store.keyLocks.writeOrder.hold(SERVICE, 'w8', async () => {
      began();
      await writing;
    });
    await begun;
    let settled = false;
    const repairing = reconcile(live, true).finally(() => (settled = true));
    await sleep(5_000);
    expect({ settled, decisions: await decisions('w8') }).toEqual({ settled: false, decisions: ['kept', 'late'] });
    release();
    await agentWrite;
    const first = await repairing;
    expect(counts(first)).toEqual({ differing: 2, repaired: 1, failed: 1 });
    const [w8, w9] = [first.differences.find((d) => d.key === 'w8')!, first.differences.find((d) => d.key === 'w9')!];
    expect({ repaired: w8.repaired, reordered: w8.reordered }).toEqual({ repaired: true, reordered: true });
    expect(w9.unrepaired).toMatch(/decisions are not the truth's with newer ones missing/);
    expect(await decisions('w8')).toEqual(['late', 'kept']);
    expect(await decisions('w9')).toEqual(['a', 'b']);
    // Its interactions, those beyond legacy's 50 too, and its snapshot as legacy's.
    expect(onNew(live, 'w8').filter((c) => c.startsWith('w8 #'))).toEqual(numbered('w8', 0, 55));
    const legacy = (await send(live.sims.endpoints[SERVICE], read('w8'))) as Summary;
    expect(((await t.handle(read('w8'), { createMissing: false })) as Summary).conversation_summary).toBe(legacy.conversation_summary);
    expect((await reconcile(live, false)).differences.map((d) => d.key)).toEqual(['w9']);
  }, 120_000);
});

describe('at dual-write (truth: legacy)', () => {
  const live = useLiveStack(SERVICE, async () => {});

  it("appends the newest interaction the orchestrator lacks, keeping its history beyond the agent's 50", async () => {
    await withGap(live, 'w2', 'legacy', 0);
    const first = await reconcile(live, true);
    expect(counts(first)).toEqual({ differing: 1, repaired: 1, failed: 0 });
    // All 55 it had (5 of them beyond legacy's window) and the one it lacked: not cleared and written again as 50.
    expect(onNew(live, 'w2')).toEqual([...numbered('w2', 0, 55), 'only legacy']);
    expect((await reconcile(live, false)).differences).toEqual([]);
  }, 120_000);

  it("removes the orchestrator's interactions after one it lacks and writes them again, its history before them kept", async () => {
    await withGap(live, 'w5', 'legacy', 3);
    const first = await reconcile(live, true);
    expect(counts(first)).toEqual({ differing: 1, repaired: 1, failed: 0 });
    // Before, the session was cleared and written again as legacy's 50: #0-#8 were lost.
    expect(onNew(live, 'w5')).toEqual([...numbered('w5', 0, 55), 'only legacy', 'w5 #55', 'w5 #56', 'w5 #57']);
    expect((await reconcile(live, false)).differences).toEqual([]);
  }, 120_000);

  it("keeps the orchestrator's history where the interaction it lacks is the oldest in legacy's window", async () => {
    // 49 after the gap: legacy's window begins with the one the orchestrator lacks, so no interaction of it meets the
    // orchestrator's 50 newest (#54-#103), and #54, the last before legacy's window, was removed with them (seed 312).
    await withGap(live, 'w11', 'legacy', 49);
    expect(onLegacy(live, 'w11').contents).toEqual(['only legacy', ...numbered('w11', 55, 49)]);
    const first = await reconcile(live, true);
    expect(counts(first)).toEqual({ differing: 1, repaired: 1, failed: 0 });
    expect(onNew(live, 'w11')).toEqual([...numbered('w11', 0, 55), 'only legacy', ...numbered('w11', 55, 49)]);
    expect((await reconcile(live, false)).differences).toEqual([]);
  }, 120_000);

  it('keeps an interaction on the orchestrator whose copy to legacy is parked, applied there first: not repaired, named', async () => {
    // Its copy to legacy parked (seed 318: written at new-primary, the repair at dual-write).
    await aloneOnNewWithParked(live, 'w12', 'only new');
    const first = await reconcile(live, true);
    expect(counts(first)).toEqual({ differing: 1, repaired: 0, failed: 1 });
    expect(first.differences[0]!.unrepaired).toMatch(
      /holds 1 element\(s\) legacy lacks whose writes, applied there first, have their copies to legacy parked.*repair with truth new/,
    );
    expect(onNew(live, 'w12')).toEqual([...numbered('w12', 0, 5), 'only new', 'w12 #5', 'w12 #6']);
    // The parked copy purged (a person's choice): the repair from legacy goes ahead, and the sides end alike.
    await live.store.pool.query(`DELETE FROM outbox WHERE key = 'w12' AND status = 'dead'`);
    expect(counts(await reconcile(live, true))).toEqual({ differing: 1, repaired: 1, failed: 0 });
    expect(onNew(live, 'w12')).toEqual(numbered('w12', 0, 7));
  }, 120_000);

  it('repairs a key whose parked copy towards legacy is of a write legacy holds, not of the one it lacks', async () => {
    // #2's copy to legacy parked (its outcome there unknown then), though legacy holds #2: a repair from legacy removes
    // nothing that write made. Any parked copy of the key stopped the repair, which left 'only new' (seed 608: a copy
    // parked from long before, the orchestrator holding a write its replica's kill left there alone).
    await aloneOnNewWithParked(live, 'w18', 'w18 #2');
    const first = await reconcile(live, true);
    expect(counts(first)).toEqual({ differing: 1, repaired: 1, failed: 0 });
    expect(onNew(live, 'w18')).toEqual(numbered('w18', 0, 7));
    expect((await reconcile(live, false)).differences).toEqual([]);
  }, 120_000);

  it('repairs a key with a parked copy towards legacy whose write both sides hold: code interactions alike whatever their metadata keys order', async () => {
    await throughMemshift(live, 'w14', 0, 5, () => 'code');
    await onlyOn(live, 'legacy', interaction('w14', 'only legacy'));
    await throughMemshift(live, 'w14', 5, 2, () => 'code');
    // #6's copy to legacy parked, though it landed there (its outcome unknown then): the orchestrator holds nothing legacy
    // lacks, so nothing a repair from legacy would remove. Counted by the metadata's spelling, every code interaction
    // looked like one legacy lacked, and the repair was refused (seed 343).
    await parkCopy(live, 'legacy', interaction('w14', 'w14 #6', 'code'), true);
    const first = await reconcile(live, true);
    expect(counts(first)).toEqual({ differing: 1, repaired: 1, failed: 0 });
    expect(onNew(live, 'w14')).toEqual([...numbered('w14', 0, 5), 'only legacy', 'w14 #5', 'w14 #6']);
    expect((await reconcile(live, false)).differences).toEqual([]);
  }, 120_000);

  it("sets the orchestrator's snapshot where it alone differs (legacy's cut by a read the orchestrator missed), its interactions and decisions kept", async () => {
    await throughMemshift(live, 'w6', 0, 55);
    const agent = new ReqClient(live.proxy.fronts[SERVICE]!, 30_000);
    expect(await agent.call({ action: 'record_decision', session_id: 'w6', decision: 'use w6' })).toBe(true);
    agent.close();
    // A budget of 10 tokens cuts the stored summary to 20 characters (PROTOCOLS.md 1.2), on legacy alone.
    await send(live.sims.endpoints[SERVICE], { action: 'get_context', session_id: 'w6', max_tokens: 10 });
    const first = await reconcile(live, true);
    expect(counts(first)).toEqual({ differing: 1, repaired: 1, failed: 0 });
    // Before, the session was cleared and written again as legacy's 50 and its decision.
    expect(onNew(live, 'w6')).toEqual([...numbered('w6', 0, 55), 'use w6']);
    const t = createTranslators(new LegOrchestratorClient(live.leg), live.store.idMap)[SERVICE];
    const read = { action: 'get_context', session_id: 'w6', max_tokens: 100_000 };
    const [fresh, legacy] = [(await t.handle(read, { createMissing: false })) as Summary, (await send(live.sims.endpoints[SERVICE], read)) as Summary];
    expect(fresh.conversation_summary).toBe(legacy.conversation_summary);
    expect(fresh.conversation_summary).toMatch(/^.{20}\.\.\.$/s);
    expect(fresh.key_decisions.map((d) => d.decision)).toEqual(['use w6']);
    expect((await reconcile(live, false)).differences).toEqual([]);
  }, 120_000);

  it("sets the orchestrator's snapshot after appends that made it again over its own interaction before legacy's window", async () => {
    // #10 and #11 reached legacy late (copies landing after later writes): its window is #12-#20, #10, #21, #11, #22-#59
    // and its snapshot was made over them and #9, a response. The orchestrator holds them in number order: the repair
    // keeps its #12-#20 and appends the rest after them, so its last add made the snapshot over its own #11 before
    // them (legacy keeps nothing before its window to name instead): 51 queries, where legacy's has 50 and a response
    // (chaos seed 577).
    const typeOf: TypeOf = (n) => (n === 9 ? 'system_response' : 'user_query');
    const add = (side: 'new' | 'legacy', n: number) => onlyOn(live, side, interaction('w17', `w17 #${n}`, typeOf(n)));
    await throughMemshift(live, 'w17', 0, 10, typeOf);
    for (const n of [10, 11]) await add('new', n);
    await throughMemshift(live, 'w17', 12, 9, typeOf);
    await add('legacy', 10);
    await throughMemshift(live, 'w17', 21, 1, typeOf);
    await add('legacy', 11);
    await throughMemshift(live, 'w17', 22, 38, typeOf);
    const late = [...numbered('w17', 12, 9), 'w17 #10', 'w17 #21', 'w17 #11', ...numbered('w17', 22, 38)];
    expect(onLegacy(live, 'w17')).toEqual({ contents: late, summary: expect.stringContaining('Total queries: 50\nTotal responses: 1\n') });
    const first = await reconcile(live, true);
    expect(counts(first)).toEqual({ differing: 1, repaired: 1, failed: 0 });
    expect(onNew(live, 'w17')).toEqual([...numbered('w17', 0, 21), ...late.slice(9)]);
    expect((await reconcile(live, false)).differences).toEqual([]);
  }, 120_000);

  it("writes the orchestrator's decisions again where it lacks one among later ones, its interactions before the window kept", async () => {
    await throughMemshift(live, 'w7', 0, 55);
    const agent = new ReqClient(live.proxy.fronts[SERVICE]!, 30_000);
    const decide = (decision: string) => ({ action: 'record_decision', session_id: 'w7', decision });
    expect(await agent.call(decide('first'))).toBe(true);
    expect(await send(live.sims.endpoints[SERVICE], decide('only legacy'))).toBe(true);
    expect(await agent.call(decide('last'))).toBe(true);
    agent.close();
    await expect.poll(async () => (await live.store.pool.query('SELECT 1 FROM outbox WHERE open')).rowCount, { timeout: 30_000 }).toBe(0);
    const first = await reconcile(live, true);
    expect(counts(first)).toEqual({ differing: 1, repaired: 1, failed: 0 });
    // Before, the session was cleared and written again as legacy's 50 interactions and 3 decisions.
    expect(onNew(live, 'w7').filter((t) => t.startsWith('w7 #'))).toEqual(numbered('w7', 0, 55));
    const t = createTranslators(new LegOrchestratorClient(live.leg), live.store.idMap)[SERVICE];
    const read = { action: 'get_context', session_id: 'w7', max_tokens: 100_000 };
    const [fresh, legacy] = [(await t.handle(read, { createMissing: false })) as Summary, (await send(live.sims.endpoints[SERVICE], read)) as Summary];
    expect(fresh.key_decisions.map((d) => d.decision)).toEqual(['first', 'only legacy', 'last']);
    expect(fresh.conversation_summary).toBe(legacy.conversation_summary);
    expect((await reconcile(live, false)).differences).toEqual([]);
  }, 120_000);
});
