/**
 * After a turn both sides may lack some of a key's writes: a write passed over a side that failed a moment before
 * went first to the side behind, and its copy is on its way to the other, which the next write (that side answering
 * again) is moved onto. The next write waits for that copy rather than reaching the side ahead of it (a chaos probe of
 * turns, hangs, restarts and kill -9 found acknowledged writes so reordered on the orchestrator); so does a write the
 * side ahead refused, before it is made on the side behind. The secondary's
 * answers are scripted here; src/plan/turned.ts decides. A read is moved whatever the side ahead's health.
 */
import { afterEach, expect, it } from 'vitest';
import { KeyActivity } from '../../src/plan/key-activity.js';
import { planFor, type FlagDecision, type Plan, type Side } from '../../src/plan/plan.js';
import type { SecondaryWrites } from '../../src/plan/secondary.js';
import { servedAhead, writtenAhead } from '../../src/plan/turned.js';
import { Turns } from '../../src/plan/turns.js';
import { LegError } from '../../src/legs/types.js';
import { Observation } from '../../src/comparison/observation.js';
import { observer, routeOf, sidesOf } from './turn-deps.js';

const S = 'jarvis-memory' as const;
const SHADOW: FlagDecision = { killSwitch: false, dualWrite: true, shadowRead: true, readNew: false, newPrimary: false, legacyOff: false };
const NEW_PRIMARY: FlagDecision = { ...SHADOW, newPrimary: true };

const route = routeOf(S, { action: 'add_memory', user_id: 'u1', memory: 'm' });
const sides = sidesOf();

let turns: Turns | undefined;
afterEach(() => turns?.close());

/** A secondary whose key has copies on their way to `behind`, and one to `copying` until `landsAt`. */
function secondary(behind: Side, copying: Side, landsAt: number): SecondaryWrites {
  const on = (side: Side) => side === behind || (side === copying && Date.now() < landsAt);
  return {
    unlanded: async (_s: unknown, _k: unknown, side: Side) => on(side),
    anyUnlanded: async (_s: unknown, side: Side) => side === behind,
    copying: async (_s: unknown, _k: unknown, side: Side) => on(side),
    lacks: async (_s: unknown, _k: unknown, side: Side) => on(side),
  } as unknown as SecondaryWrites;
}

it('waits for the copy on its way to the side a write is moved onto, then moves it there', async () => {
  turns = new Turns(async () => true, [S], 10_000);
  // Rolled back from new-primary: legacy lacks the key's writes; new has them but one legacy-first write's copy.
  const landsAt = Date.now() + 600;
  const deps = { turns, sides: () => sides, secondary: secondary('legacy', 'new', landsAt), activity: new KeyActivity(), observer };
  const plan = await servedAhead(deps, route, planFor('write', SHADOW), SHADOW, true);
  expect(plan).toMatchObject({ primary: 'new', behind: 'legacy' });
  // Decided once the copy had landed, not before.
  expect(Date.now()).toBeGreaterThanOrEqual(landsAt);
});

it('waits for the copy on the side the flags name when the other may not be moved onto, and with outbox.whenCopiesLate ahead gives up waiting after 2 s', async () => {
  turns = new Turns(async () => true, [S], 10_000, 'ahead');
  const deps = { turns, sides: () => sidesOf('failed lately'), secondary: secondary('new', 'new', Infinity), activity: new KeyActivity(), observer };
  const started = Date.now();
  const plan = await servedAhead(deps, route, planFor('write', NEW_PRIMARY), NEW_PRIMARY, true);
  // Legacy failed a moment ago: the write goes to new as the flags say, after waiting for the copies on their way there.
  expect(plan).toMatchObject({ primary: 'new' });
  expect(plan?.behind).toBeUndefined();
  expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
});

it('refuses such a write after the 2 s by default (outbox.whenCopiesLate refuse)', async () => {
  turns = new Turns(async () => true, [S], 10_000);
  const deps = { turns, sides: () => sidesOf('failed lately'), secondary: secondary('new', 'new', Infinity), activity: new KeyActivity(), observer };
  await expect(servedAhead(deps, route, planFor('write', NEW_PRIMARY), NEW_PRIMARY, true)).rejects.toMatchObject({ failure: 'unavailable' });
});

it('keeps refusing such a write while the store stops answering during its wait: copies not known landed may still be on their way', async () => {
  // Chaos seed 9 with the store paused: a write waiting for its key's copies towards the orchestrator (legacy failed
  // lately) took the store's silence for "none on the way", went ahead of them, and the key's next writes after it.
  let away = false;
  const behind = secondary('new', 'new', Infinity);
  const store = {
    ...behind,
    copying: async (s: never, k: never, side: Side, unknown = false) => (away ? unknown : behind.copying(s, k, side)),
  } as unknown as SecondaryWrites;
  turns = new Turns(async () => true, [S], 10_000);
  const deps = { turns, sides: () => sidesOf('failed lately'), secondary: store, activity: new KeyActivity(), observer };
  setTimeout(() => (away = true), 300);
  await expect(servedAhead(deps, route, planFor('write', NEW_PRIMARY), NEW_PRIMARY, true)).rejects.toMatchObject({ failure: 'unavailable' });
});

it('moves a read onto the side ahead though it failed lately: an error there beats a stale reply', async () => {
  turns = new Turns(async () => true, [S], 10_000);
  const deps = { turns, sides: () => sidesOf('failed lately'), secondary: secondary('new', 'new', Infinity), activity: new KeyActivity(), observer };
  const read = { route: routeOf(S, { action: 'get_memories', user_id: 'u1' }) };
  // New lacks the key's writes that legacy has (the turn to new-primary), and legacy failed a moment ago.
  expect(await servedAhead(deps, read.route, planFor('read', NEW_PRIMARY), NEW_PRIMARY, false)).toMatchObject({ primary: 'legacy', behind: 'new' });
});

/** Both sides lack some of the key's writes; `told` those lacking writes their agents were told of (not unknown outcomes). */
function bothBehind(...told: Side[]): SecondaryWrites {
  const lacks = async (_s: unknown, _k: unknown, side: Side) => told.includes(side);
  return { unlanded: async () => true, anyUnlanded: async () => true, copying: lacks, lacks } as unknown as SecondaryWrites;
}

const readBoth = (told: Side[]) => {
  turns = new Turns(async () => true, [S], 10_000);
  const deps = { turns, sides: () => sides, secondary: bothBehind(...told), activity: new KeyActivity(), observer };
  // Rolled back from new-primary (legacy lacks the copies of writes made there), and a write since went to legacy first.
  return servedAhead(deps, routeOf(S, { action: 'get_memories', user_id: 'u1' }), planFor('read', SHADOW), SHADOW, false);
};

it('refuses a read of a key both sides lack writes of (copies on their way each way), rather than answer it stale', async () => {
  await expect(readBoth(['legacy', 'new'])).rejects.toMatchObject({ failure: 'unavailable' });
});

it('answers such a read from a side that lacks only writes whose outcome is unknown (their agents told of an error)', async () => {
  const kept = await readBoth(['new']);
  expect(kept).toMatchObject({ primary: 'legacy' });
  expect(kept?.behind).toBeUndefined();
  expect(await readBoth(['legacy'])).toMatchObject({ primary: 'new', behind: 'legacy' });
});

it('keeps a write on the side the flags name when all it lacks of the key are writes whose primary outcome is unknown', async () => {
  turns = new Turns(async () => true, [S], 10_000);
  // Turned to new-primary: two legacy-first writes timed out (their agents told of an error; legacy may or may not have
  // them), and the acknowledged writes made at new-primary since have their copies on their way to legacy.
  const unknownTowardsNew = {
    unlanded: async () => true,
    anyUnlanded: async () => true,
    copying: async (_s: unknown, _k: unknown, side: Side) => side === 'legacy',
  } as unknown as SecondaryWrites;
  const deps = { turns, sides: () => sides, secondary: unknownTowardsNew, activity: new KeyActivity(), observer };
  const plan = await servedAhead(deps, route, planFor('write', NEW_PRIMARY), NEW_PRIMARY, true);
  // Moved to legacy it would land there ahead of those copies.
  expect(plan).toMatchObject({ primary: 'new' });
  expect(plan?.behind).toBeUndefined();
});

/** A write moved to legacy that legacy refuses unsent (ContextualMemoryAgent restarting), made on new then: the sides it went to. */
async function refusedAhead(landsAt: number): Promise<{ sent: Side[]; made: Promise<unknown> }> {
  turns = new Turns(async () => true, [S], 10_000);
  const deps = { turns, sides: () => sides, secondary: secondary('legacy', 'new', landsAt), activity: new KeyActivity(), observer };
  const sent: Side[] = [];
  const write = async (p: Plan) => {
    sent.push(p.primary);
    if (p.primary === 'legacy') throw new LegError('unavailable', 'no connection to the backend within 2000 ms', 'legacy');
    return new Observation(p.primary, 1, { value: { status: 'ok' } });
  };
  const made = writtenAhead(deps, route, { ...planFor('write', NEW_PRIMARY), primary: 'legacy', behind: 'new' }, [{ path: 'status', equals: 'ok' }], write);
  return { sent, made: made.catch((err: unknown) => err) };
}

it('makes a write the side ahead refused on the side behind only once its copies there landed', async () => {
  // Chaos seed 11: made on the orchestrator at once, it went ahead of the key's copies still queued there.
  const landsAt = Date.now() + 600;
  const { sent, made } = await refusedAhead(landsAt);
  expect(await made).toMatchObject({ side: 'new' });
  expect(sent).toEqual(['legacy', 'new']);
  expect(Date.now()).toBeGreaterThanOrEqual(landsAt);
});

it('refuses it, sending nothing more, when they have not landed 2 s on (outbox.whenCopiesLate refuse)', async () => {
  const { sent, made } = await refusedAhead(Infinity);
  expect(await made).toMatchObject({ failure: 'unavailable', message: expect.stringContaining('still on their way') });
  expect(sent).toEqual(['legacy']);
});
