/**
 * Sides that missed writes. At complete writes reach the orchestrator only, so legacy is behind from the first of them;
 * under the kill switch a migrating service's writes reach legacy only, so the orchestrator is. memshift records each gap
 * in the store (every replica sees it), says so (status, gauge, report), keeps the guard from rolling reads back onto a
 * stale legacy, refuses to copy a side with a gap over the other, and closes the gap once a repair, begun with that side
 * written second, leaves the two alike; a write still held by a hung side when a repair closed the gap opens it again.
 *
 * Over 300 lines: one stack walked through the stages in order, each case starting where the one before left it.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { flagName, KILL_SWITCH } from '../../src/flags/names.js';
import { serviceSnapshot, type Flags } from '../../src/flags/source.js';
import type { Config } from '../../src/config.js';
import { startProxy, type Proxy } from '../../src/proxy.js';
import { reconcileService } from '../../src/reconcile/sides.js';
import type { Store } from '../../src/store/index.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import type { Edits } from '../../src/flags/edit.js';
import type { TempFlags } from '../flags/helpers.js';
import { send } from '../sim/helpers.js';
import { configFor, startSims } from '../support/stack.js';
import { startFlaggedStack, type FlaggedStack } from '../support/flagged-stack.js';
import { keptLines } from '../support/both-behind.js';
import { ReqClient } from '../support/zmq-client.js';
import { startChild } from '../../src/tools/bench/processes.js';

const S = 'jarvis-memory' as const;
const USERS = 5;
const TOKEN = 'leaving-complete';
const f = (kind: Parameters<typeof flagName>[1]) => flagName(S, kind);
const NEW_PRIMARY: Edits = { [f('dual-write')]: { enabled: true }, [f('new-primary')]: { enabled: true }, [f('shadow-read')]: { enabled: true, rollout: 100 } };
const COMPLETE: Edits = { ...NEW_PRIMARY, [f('legacy-off')]: { enabled: true } };

let stack: FlaggedStack<SimHandle>;
let dir: string;
let sims: SimHandle;
let temp: TempFlags;
let flags: Flags;
let proxy: Proxy;
let config: Config;
/** The test's own connection to the state store: another process's view of what the proxy recorded. */
let store: Store;
let agent: ReqClient;

beforeAll(async () => {
  stack = await startFlaggedStack({
    service: S,
    prefix: 'memshift-leaving-complete-',
    flags: NEW_PRIMARY,
    sims: (storage) => startSims({ storage }),
    // Long enough for a write held by a hung legacy to land, not time out, within a test.
    config: (on) => configWith(on, 30_000),
  });
  ({ dir, sims, temp, flags, proxy, config, store } = stack);
  agent = new ReqClient(proxy.fronts[S]!, 5000);
}, 60_000);
afterAll(async () => {
  agent?.close();
  await stack?.close();
});

/** The settings of a stack on `on`, legacy given `legacyTimeoutMs` to answer. */
const configWith = (on: { sims: SimHandle; url: string; dir: string }, legacyTimeoutMs: number) =>
  configFor(on.sims, on.url, {
    admin: { token: TOKEN },
    services: { [S]: { legacy: { endpoint: on.sims.endpoints[S], timeoutMs: legacyTimeoutMs } } },
    report: { dir: '' },
    reconcile: { legacyDataDir: on.dir, orchestratorDatabaseUrl: on.url, recheckDelayMs: 300 },
    guard: { enabled: true, mismatchRate: { threshold: 0.001, minSamples: 20 }, addedLatencyMs: { threshold: 10_000, minSamples: 100 } },
  });
const setFlags = (edits: Edits, stage: string) => stack.setFlags(edits, stage);
const status = async () =>
  (await (await fetch(`${proxy.httpUrl}/admin/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
    services: Record<string, { behindSince: { legacy: string | null; new: string | null }; guard: { state: string } }>;
  };
/** A repair from legacy here leaves nothing different and closes the orchestrator's gap. */
async function repairFromLegacyCloses(): Promise<void> {
  const run = await reconcileService(config, store, flags, S, { repair: true });
  expect({ truth: run.run.truth, remaining: run.remaining, side: run.gap?.side, closed: run.gap?.closed }).toEqual({
    truth: 'legacy',
    remaining: 0,
    side: 'new',
    closed: true,
  });
}
const memories = (reply: unknown) => (reply as { memories: { memory: unknown }[] }).memories.map((m) => m.memory);
const legacyHolds = async (user: string) => memories(await send(sims.endpoints[S], { action: 'get_memories', user_id: user }));
const users = Array.from({ length: USERS }, (_, u) => `u${u}`);

/** `memshift <args>` as a child on this stack's store, orchestrator, legacy files and flags file: its exit code and output. */
async function cli(...args: string[]): Promise<{ code: number | null; out: string }> {
  const settings = Object.entries({
    'store.url': config.store.url!,
    'orchestrator.endpoint': sims.endpoints.orchestrator,
    [`services.${S}.legacy.endpoint`]: sims.endpoints[S],
    'reconcile.legacyDataDir': dir,
    'reconcile.orchestratorDatabaseUrl': config.reconcile.orchestratorDatabaseUrl!,
    'flags.file': temp.file,
  }).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
  const child = startChild([...args, ...(args[0] === 'status' ? [] : settings)]);
  const code = await new Promise<number | null>((resolve) => child.proc.once('exit', resolve));
  return { code, out: child.output() };
}

/**
 * The writes `side` missed since `from` as stored: the proxy's gap flush is awaited (one under way, or one more), so no
 * note of them is left for a later flush to stamp after a run's start; then read as another replica reads them.
 */
async function recordedSince(from: Date, side: 'legacy' | 'new' = 'legacy', by: Proxy = proxy): Promise<void> {
  expect(await stack.gapAt(side, by)).toBeGreaterThanOrEqual(from.getTime());
}
const behindGauge = async (side: string) =>
  (await (await fetch(`${proxy.httpUrl}/metrics`)).text())
    .split('\n')
    .find((l) => l.startsWith('memshift_side_behind{') && l.includes(`service="${S}"`) && l.includes(`side="${side}"`))
    ?.split(' ')
    .at(-1);

it('records the gap from the first write served at complete; back at a stage reading legacy, nothing copies legacy over the orchestrator', async () => {
  for (const u of users) await agent.call({ action: 'add_memory', user_id: u, memory: `before ${u}` });
  await proxy.runner.secondary.drain();
  expect((await status()).services[S]!.behindSince).toEqual({ legacy: null, new: null });

  await setFlags(COMPLETE, 'complete');
  const before = new Date();
  for (const u of users) expect(await agent.call({ action: 'add_memory', user_id: u, memory: `at complete ${u}` })).toMatchObject({ status: 'ok' });
  expect(await legacyHolds('u0')).toEqual(['before u0']);
  expect(proxy.runner.stats.of(S).writesMissing).toEqual({ legacy: USERS, new: 0 });

  // Stored at the proxy's next flush: seen by another connection, and in the proxy's status and gauge.
  await recordedSince(before);
  const since = Date.parse((await status()).services[S]!.behindSince.legacy!);
  expect(since).toBeGreaterThanOrEqual(before.getTime() - 1000);
  await expect.poll(() => behindGauge('legacy')).toBe('1');
  expect(await behindGauge('new')).toBe('0');

  // A repair from the orchestrator while still at complete writes legacy, but closes nothing: agents' writes still miss it.
  const atComplete = await reconcileService(config, store, flags, S, { repair: true });
  expect({ truth: atComplete.run.truth, remaining: atComplete.remaining, closed: atComplete.gap?.closed }).toEqual({
    truth: 'new',
    remaining: 0,
    closed: false,
  });
  expect(await legacyHolds('u0')).toEqual(['before u0', `at complete u0`]);
  const late = new Date();
  expect(await agent.call({ action: 'add_memory', user_id: 'u0', memory: 'late at complete' })).toMatchObject({ status: 'ok' });
  await recordedSince(late);

  // Back to dual-write (a flags edit): legacy answers reads again, and holds no late write.
  await setFlags({ [f('dual-write')]: { enabled: true } }, 'dual-write');
  expect(memories(await agent.call({ action: 'get_memories', user_id: 'u0' }))).toEqual(['before u0', 'at complete u0']);
  const report = await proxy.reporter.write();
  const section = report.data.services.find((x) => x.service === S)!;
  expect(section.verdict).toMatchObject({ verdict: 'hold' });
  expect(section.verdict.reasons[0]).toMatch(/legacy has missed writes since .* stage dual-write reads it: agents may read stale data/);
  expect(report.markdown).toMatch(/\*\*Legacy has missed writes since \S+ \S+ UTC \(served at complete\): reads from it are stale/);
  const shown = await cli('status', '--proxy', proxy.httpUrl, '--token', TOKEN);
  expect(shown.out).toMatch(
    /jarvis-memory: LEGACY BEHIND: legacy has missed writes since \S+ \(served at complete\).*memshift reconcile --service jarvis-memory --repair --truth new at new-primary/,
  );
  // Legacy as the truth would put its old memories in place of what the agents wrote at complete: refused, in process
  // and by the commands; comparing is allowed, from the orchestrator.
  await expect(reconcileService(config, store, flags, S, { repair: true, truth: 'legacy' })).rejects.toThrow(
    /legacy store has missed writes since .* copying it over the other side would undo them/,
  );
  const backfill = await cli('backfill', '--service', S);
  expect(backfill.code, backfill.out).toBe(2);
  expect(backfill.out).toMatch(/backfill refused: jarvis-memory's legacy store has missed writes since/);
  // Legacy answers first here, so the orchestrator's newer memory reads as a write in flight: no run here closes the gap.
  const compared = await reconcileService(config, store, flags, S);
  expect({ truth: compared.run.truth, closed: compared.gap?.closed }).toEqual({ truth: 'new', closed: false });
}, 90_000);

it('at new-primary again, the guard does not roll reads back onto the stale store; a repair from the orchestrator closes the gap', async () => {
  await setFlags(NEW_PRIMARY, 'new-primary');
  await proxy.runner.secondary.drain();

  // Reads served from the orchestrator, shadowed against legacy, which lacks u0's last write: enough mismatches to
  // breach the guard's rate. Without the gap it would turn new-primary off, serving every read from legacy.
  for (let round = 0; round < 30; round++) await agent.call({ action: 'get_memories', user_id: 'u0' });
  await expect.poll(() => proxy.guard!.tripped(), { timeout: 10_000 }).toEqual([S]);
  // The trip holds at once; its event is stored a moment later, off the request path (run 148 read it too soon).
  await expect.poll(async () => (await proxy.guardEvents.list({ service: S, limit: 1 })).length, { timeout: 10_000 }).toBe(1);
  const [event] = await proxy.guardEvents.list({ service: S, limit: 1 });
  expect(event!.flagsChanged).toEqual([]);
  expect(flags.localOverrides()).toEqual({});
  expect(serviceSnapshot(flags.snapshot(), S).stage).toBe('new-primary');
  // Told as a trip that moved no reads, with the gap's start and the repair (before: "reads stay on legacy").
  const since = (await status()).services[S]!.behindSince.legacy!;
  expect(event!.legacyBehindSince).toBe(since);
  const shown = await cli('status', '--proxy', proxy.httpUrl, '--token', TOKEN);
  expect(shown.out).toContain(`jarvis-memory: GUARD TRIPPED since ${proxy.guard!.status(S)!.trippedAt} (tripped at new-primary: mismatchRate `);
  expect(shown.out).toMatch(
    new RegExp(
      `; nothing rolled back: legacy has missed writes since ${since.replace(/\./g, '\\.')}, so reads were not moved onto it: repair it first ` +
        `\\(memshift reconcile --service ${S} --repair --truth new, at new-primary\\)\\): it watches the service no more until a person resumes it`,
    ),
  );

  // Begun with legacy written again and every write at complete recorded before it: closes the gap.
  const run = await cli('reconcile', '--repair', '--service', S);
  expect(run.code, run.out).toBe(0);
  expect(run.out).toMatch(
    /truth new[\s\S]*differing 1[\s\S]*repaired 1, repair failed 0[\s\S]*legacy holds what the other side holds again: its gap since \S+ is closed/,
  );
  expect(await legacyHolds('u0')).toEqual(['before u0', 'at complete u0', 'late at complete']);
  await expect.poll(async () => (await status()).services[S]!.behindSince.legacy, { timeout: 10_000 }).toBeNull();
  // Closed for every replica: the next run knows of no gap, and back at dual-write legacy is the truth again.
  const after = await reconcileService(config, store, flags, S);
  expect({ remaining: after.remaining, gap: after.gap }).toEqual({ remaining: 0, gap: undefined });
  await setFlags({ [f('dual-write')]: { enabled: true } }, 'dual-write');
  expect((await reconcileService(config, store, flags, S)).run.truth).toBe('legacy');
}, 90_000);

it('under the kill switch the orchestrator misses writes: no repair copies it over legacy, and one from legacy where it is written second closes the gap', async () => {
  const CUTOVER: Edits = {
    [f('dual-write')]: { enabled: true },
    [f('shadow-read')]: { enabled: true, rollout: 100 },
    [f('read-new')]: { enabled: true, rollout: 100 },
  };
  await setFlags(NEW_PRIMARY, 'new-primary');
  await agent.call({ action: 'add_memory', user_id: 'k1', memory: 'before the kill' });
  await proxy.runner.secondary.drain();

  await setFlags({ ...NEW_PRIMARY, [KILL_SWITCH]: { enabled: true } }, 'killed');
  const killed = new Date();
  expect(await agent.call({ action: 'add_memory', user_id: 'k1', memory: 'under the kill switch' })).toMatchObject({ status: 'ok' });
  expect(proxy.runner.stats.of(S).writesMissing.new).toBe(1);
  await recordedSince(killed, 'new');
  await expect.poll(() => behindGauge('new')).toBe('1');

  // Released back to new-primary: reads come from the orchestrator, which lacks the write.
  await setFlags(NEW_PRIMARY, 'new-primary');
  expect(memories(await agent.call({ action: 'get_memories', user_id: 'k1' }))).toEqual(['before the kill']);
  expect((await status()).services[S]!.behindSince.new).not.toBeNull();
  // The repair new-primary's truth implies would copy the orchestrator over legacy and lose that write for good.
  await expect(reconcileService(config, store, flags, S, { repair: true, truth: 'new' })).rejects.toThrow(
    /orchestrator has missed writes since .*served to legacy alone: under the kill switch.*copying it over the other side would undo them/,
  );
  // From legacy, the default while the orchestrator alone has a gap: refused here, where agents write the orchestrator first.
  await expect(reconcileService(config, store, flags, S, { repair: true })).rejects.toThrow(
    /at stage new-primary, where agents' writes land on the new side first/,
  );
  expect(await legacyHolds('k1')).toEqual(['before the kill', 'under the kill switch']);

  // At cutover the orchestrator is written second: a repair from legacy fills it in and closes the gap.
  await setFlags(CUTOVER, 'cutover');
  await repairFromLegacyCloses();
  expect(memories(await agent.call({ action: 'get_memories', user_id: 'k1' }))).toEqual(['before the kill', 'under the kill switch']);
  await expect.poll(async () => (await status()).services[S]!.behindSince, { timeout: 10_000 }).toEqual({ legacy: null, new: null });
}, 90_000);

it('off again after a later stage: the writes miss the orchestrator, recorded as its gap; the stage reached is shown beside off', async () => {
  await setFlags({}, 'off');
  const shown = await cli('status', '--proxy', proxy.httpUrl, '--token', TOKEN);
  expect(shown.out).toMatch(new RegExp(`${S} +off \\(reached complete\\)`));
  const before = proxy.runner.stats.of(S).writesMissing.new;
  const sent = new Date();
  expect(await agent.call({ action: 'add_memory', user_id: 'o1', memory: 'at off again' })).toMatchObject({ status: 'ok' });
  expect(proxy.runner.stats.of(S).writesMissing.new).toBe(before + 1);
  await recordedSince(sent, 'new');
  expect((await status()).services[S]!.behindSince.new).not.toBeNull();

  await setFlags({ [f('dual-write')]: { enabled: true } }, 'dual-write');
  await repairFromLegacyCloses();
}, 90_000);

it('a write to legacy alone still held by a hung legacy when a repair closed the gap opens it again once it lands', async () => {
  await setFlags({}, 'off');
  await sims.applyFaults(S, { hang: true });
  const patient = new ReqClient(proxy.fronts[S]!, 30_000);
  try {
    const missing = proxy.runner.stats.of(S).writesMissing.new;
    const sent = new Date();
    const held = patient.call({ action: 'add_memory', user_id: 'o2', memory: 'held by a hung legacy' });
    // Settled with the test should it fail first (the socket's close rejects it).
    held.catch(() => undefined);
    await expect.poll(() => proxy.runner.stats.of(S).writesMissing.new).toBe(missing + 1);
    await recordedSince(sent, 'new');
    // The write has not landed: the sides are alike, and the run closes the gap.
    await setFlags({ [f('dual-write')]: { enabled: true } }, 'dual-write');
    await repairFromLegacyCloses();
    await sims.applyFaults(S, { hang: false });
    expect(await held).toMatchObject({ status: 'ok' });
    expect(await legacyHolds('o2')).toEqual(['held by a hung legacy']);
    // Landed on legacy alone: noted again as it settled, so the gap is stored again, and the next repair copies it.
    await recordedSince(sent, 'new');
    await repairFromLegacyCloses();
  } finally {
    patient.close();
    await sims.applyFaults(S, { hang: false });
  }
}, 90_000);

it('a write to legacy alone that timed out on a hung legacy, landing after a repair closed the gap, opens it again', async () => {
  await setFlags({}, 'off');
  // A replica giving legacy a second: the write times out, an unknown outcome, while legacy still holds it.
  const quick = await startProxy(configWith(stack, 1000), { flags });
  const client = new ReqClient(quick.fronts[S]!, 10_000);
  try {
    await sims.applyFaults(S, { hang: true });
    const sent = new Date();
    expect(await client.call({ action: 'add_memory', user_id: 'o3', memory: 'timed out on a hung legacy' })).toMatchObject({ status: 'error' });
    await recordedSince(sent, 'new', quick);
    await setFlags({ [f('dual-write')]: { enabled: true } }, 'dual-write');
    await repairFromLegacyCloses();
    await sims.applyFaults(S, { hang: false });
    await expect.poll(() => legacyHolds('o3'), { timeout: 10_000 }).toEqual(['timed out on a hung legacy']);
    // Noted again at its late reply, stored at that replica's next flush; the next repair copies it.
    await vi.waitFor(() => recordedSince(sent, 'new', quick), { timeout: 10_000, interval: 100 });
    await repairFromLegacyCloses();
  } finally {
    client.close();
    await sims.applyFaults(S, { hang: false });
    await quick.close();
    await quick.store.close();
  }
}, 90_000);

it('the kill switch pressed at complete: both sides miss writes, no repair copies either over the other, until a person gives up one side', async () => {
  await setFlags(COMPLETE, 'complete');
  const atComplete = new Date();
  expect(await agent.call({ action: 'add_memory', user_id: 'b1', memory: 'at complete' })).toMatchObject({ status: 'ok' });
  await recordedSince(atComplete, 'legacy');
  await setFlags({ ...COMPLETE, [KILL_SWITCH]: { enabled: true } }, 'killed');
  const killed = new Date();
  expect(await agent.call({ action: 'add_memory', user_id: 'b1', memory: 'under the kill switch' })).toMatchObject({ status: 'ok' });
  await recordedSince(killed, 'new');

  // Released to new-primary: each side holds a write the other lacks, and neither is copied over the other.
  await setFlags(NEW_PRIMARY, 'new-primary');
  expect(await legacyHolds('b1')).toEqual(['under the kill switch']);
  expect(memories(await agent.call({ action: 'get_memories', user_id: 'b1' }))).toEqual(['at complete']);
  await expect.poll(async () => Object.values((await status()).services[S]!.behindSince).every(Boolean), { timeout: 10_000 }).toBe(true);
  // Status and the report name the way out, not either side's own repair.
  expect((await cli('status', '--proxy', proxy.httpUrl, '--token', TOKEN)).out).toMatch(
    /jarvis-memory: BOTH SIDES BEHIND: .*memshift reconcile --service jarvis-memory --repair --give-up-missed/,
  );
  const report = (await proxy.reporter.write()).data.services.find((x) => x.service === S)!.verdict;
  expect(report.verdict).toBe('hold');
  expect(report.reasons[0]).toMatch(/^both sides have missed writes .*--give-up-missed/);
  await expect(reconcileService(config, store, flags, S, { repair: true })).rejects.toThrow(/orchestrator has missed writes since .* would undo them/);
  await expect(reconcileService(config, store, flags, S, { repair: true, truth: 'legacy' })).rejects.toThrow(/repair refused/);
  // Giving the orchestrator's missed writes up needs it written first: at dual-write it would go on missing them.
  await setFlags({ [f('dual-write')]: { enabled: true } }, 'dual-write');
  await expect(reconcileService(config, store, flags, S, { repair: true, truth: 'new', giveUpMissed: { keepIn: '/dev/null' } })).rejects.toThrow(
    /missed can be given up only where agents write it first and the other side second \(stage new-primary; now dual-write\)/,
  );
  expect((await status()).services[S]!.behindSince.new).not.toBeNull();

  // A person's choice, after a run listed the keys that differ: keep the orchestrator's, give up what it missed.
  await setFlags(NEW_PRIMARY, 'new-primary');
  const listed = await cli('reconcile', '--service', S);
  expect(listed.code, listed.out).toBe(1);
  expect(listed.out).toMatch(/differing 1[\s\S]*b1/);
  // A file that cannot be written stops the give-up before the gap is forgotten.
  const nowhere = await cli('reconcile', '--repair', '--give-up-missed', join(dir, 'no-such-dir', 'kept.jsonl'), '--service', S);
  expect({ code: nowhere.code, out: nowhere.out }).toMatchObject({ code: 2, out: expect.stringMatching(/ENOENT: no such file/) });
  expect((await status()).services[S]!.behindSince.new).not.toBeNull();
  const keptIn = join(dir, 'given-up-b1.jsonl');
  const run = await cli('reconcile', '--repair', '--give-up-missed', keptIn, '--service', S);
  expect(run.code, run.out).toBe(0);
  expect(run.out).toMatch(/given up, as asked: the writes the orchestrator missed since \S+ \(served to legacy alone/);
  expect(run.out).toContain(`taken from legacy and kept in ${keptIn}: 1 elements of 1 keys`);
  expect(keptLines(keptIn)).toEqual([
    {
      at: expect.any(String),
      service: S,
      side: 'legacy',
      key: 'b1',
      given_up: { memories: [{ memory: 'under the kill switch', timestamp: expect.anything() }] },
      requests: [{ action: 'add_memory', user_id: 'b1', memory: 'under the kill switch' }],
    },
  ]);
  expect(run.out).toMatch(/legacy holds what the other side holds again: its gap since \S+ is closed/);
  expect(await legacyHolds('b1')).toEqual(['at complete']);
  await expect.poll(async () => (await status()).services[S]!.behindSince, { timeout: 10_000 }).toEqual({ legacy: null, new: null });
  // A person replays what was given up through memshift's HTTP front: the kept request is one the service takes.
  const [request] = keptLines(keptIn)[0]!.requests;
  const replayed = await fetch(`${proxy.httpUrl}/v1/${S}`, { method: 'POST', body: JSON.stringify(request) });
  expect(await replayed.json()).toMatchObject({ status: 'ok' });
  await proxy.runner.secondary.drain();
  expect(await legacyHolds('b1')).toEqual(['at complete', 'under the kill switch']);
  expect(memories(await agent.call({ action: 'get_memories', user_id: 'b1' }))).toEqual(['at complete', 'under the kill switch']);
}, 90_000);

it("both sides miss writes: giving up legacy's instead, at dual-write, makes the orchestrator like legacy, its newer writes at complete dropped", async () => {
  await setFlags({ [f('dual-write')]: { enabled: true } }, 'dual-write');
  await agent.call({ action: 'add_memory', user_id: 'b2', memory: 'before' });
  await proxy.runner.secondary.drain();
  await setFlags(COMPLETE, 'complete');
  const atComplete = new Date();
  await agent.call({ action: 'add_memory', user_id: 'b2', memory: 'at complete' });
  await recordedSince(atComplete, 'legacy');
  await setFlags({ ...COMPLETE, [KILL_SWITCH]: { enabled: true } }, 'killed');
  const killed = new Date();
  await agent.call({ action: 'add_memory', user_id: 'b3', memory: 'under the kill switch' });
  await recordedSince(killed, 'new');

  // Legacy's copy kept: the orchestrator's write at complete, newer than anything legacy holds of b2, is given up too.
  await setFlags({ [f('dual-write')]: { enabled: true } }, 'dual-write');
  // A run that got only as far as b3 (the keys from b3 on) before it died: legacy's gap is forgotten, b2 not reached.
  const keepIn = join(dir, 'given-up-b2.jsonl');
  const first = await reconcileService(config, store, flags, S, { repair: true, truth: 'legacy', giveUpMissed: { keepIn }, range: { from: 'b3' } });
  expect({ givenUp: first.givenUp?.side, side: first.gap?.side, closed: first.gap?.closed }).toEqual({ givenUp: 'legacy', side: 'new', closed: false });
  // Asked again: no gap left to forget, and b2's newer write at complete is dropped all the same.
  const run = await reconcileService(config, store, flags, S, { repair: true, truth: 'legacy', giveUpMissed: { keepIn } });
  expect({ givenUp: run.givenUp?.side, remaining: run.remaining, side: run.gap?.side, closed: run.gap?.closed }).toEqual({
    givenUp: undefined,
    remaining: 0,
    side: 'new',
    closed: true,
  });
  // What the orchestrator lost, kept by the run that took it; the key b3, only added to there, loses nothing.
  expect(keptLines(keepIn).map((l) => [l.side, l.key, l.given_up])).toEqual([
    ['new', 'b2', { memories: [{ memory: 'at complete', timestamp: expect.anything() }] }],
  ]);
  await setFlags(NEW_PRIMARY, 'new-primary');
  expect(memories(await agent.call({ action: 'get_memories', user_id: 'b2' }))).toEqual(['before']);
  expect(memories(await agent.call({ action: 'get_memories', user_id: 'b3' }))).toEqual(['under the kill switch']);
  await expect.poll(async () => (await status()).services[S]!.behindSince, { timeout: 10_000 }).toEqual({ legacy: null, new: null });
}, 90_000);

it('a give-up beside live writes keeps every write acknowledged meanwhile, and gives up only what was missed', async () => {
  const keys = ['l0', 'l1', 'l2', 'l3'];
  await setFlags(COMPLETE, 'complete');
  const atComplete = new Date();
  for (const u of keys) await agent.call({ action: 'add_memory', user_id: u, memory: 'at complete' });
  await recordedSince(atComplete, 'legacy');
  await setFlags({ ...COMPLETE, [KILL_SWITCH]: { enabled: true } }, 'killed');
  const killed = new Date();
  for (const u of keys) await agent.call({ action: 'add_memory', user_id: u, memory: 'under the kill switch' });
  await recordedSince(killed, 'new');
  await setFlags(NEW_PRIMARY, 'new-primary');

  // An agent goes on writing the same keys through memshift while the orchestrator's copy is kept.
  const live = new ReqClient(proxy.fronts[S]!, 10_000);
  const keepIn = join(dir, 'given-up-live.jsonl');
  const acked: Record<string, string[]> = Object.fromEntries(keys.map((u) => [u, []]));
  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      const u = keys[i % keys.length]!;
      const reply = (await live.call({ action: 'add_memory', user_id: u, memory: `live ${i}` })) as { status?: string };
      if (reply.status === 'ok') acked[u]!.push(`live ${i}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    await new Promise((r) => setTimeout(r, 500));
    const run = await reconcileService(config, store, flags, S, { repair: true, giveUpMissed: { keepIn } });
    expect(run.givenUp?.side).toBe('new');
  } finally {
    writing = false;
    await writer;
    live.close();
  }
  await proxy.runner.secondary.drain();
  // Kept: each key's write under the kill switch, and none of the live ones.
  const kept = keptLines(keepIn).map((l) => [l.key, (l.given_up.memories as { memory: string }[]).map((m) => m.memory)]);
  expect(kept.sort()).toEqual(keys.map((u) => [u, ['under the kill switch']]));
  for (const u of keys) {
    const want = ['at complete', ...acked[u]!];
    expect(memories(await agent.call({ action: 'get_memories', user_id: u })), `${u} on the orchestrator`).toEqual(want);
    expect(await legacyHolds(u), `${u} on legacy`).toEqual(want);
  }
}, 90_000);
