/**
 * Copies made before this replica started (a killed process's: chaos seed 797), told of by the store: while the store
 * cannot tell more, a key this replica has not written is asked about as refused ('refuse-any'), at the side they are
 * on their way to; a key it has written, the other side, or the same after the store said none is left, as before.
 */
import { afterEach, expect, it } from 'vitest';
import { KeyActivity } from '../../src/plan/key-activity.js';
import { planFor, type FlagDecision, type Side } from '../../src/plan/plan.js';
import type { SecondaryWrites, Untold } from '../../src/plan/secondary.js';
import { servedAhead } from '../../src/plan/turned.js';
import { Turns } from '../../src/plan/turns.js';
import { observer, routeOf, sidesOf } from './turn-deps.js';
import type { Route } from '../../src/routes/route.js';
import { waitUntil } from '../outbox/support.js';

const S = 'jarvis-memory' as const;
const NEW_PRIMARY: FlagDecision = { killSwitch: false, dualWrite: true, shadowRead: false, readNew: false, newPrimary: true, legacyOff: false };

const write = (user: string): Route => routeOf(S, { action: 'add_memory', user_id: user, memory: 'm' });
const read = (user: string): Route => routeOf(S, { action: 'get_memories', user_id: user });

let turns: Turns | undefined;
afterEach(() => turns?.close());

interface Store {
  away: boolean;
  /** Sides with writes made before the replica started not landed. */
  earlier: Set<Side>;
  /** Sides with writes made since not landed (no key asked about here). */
  since: Set<Side>;
}

/**
 * Turns over a scripted store: `away`, it answers nothing (a key's question with the caller's `unknown`, recorded in
 * `untold`: refused for 'refuse-any', as the outbox does).
 */
function stackOf(store: Store) {
  const untold: Untold[] = [];
  const ask = async (_s: unknown, _key: string, _side: Side, unknown: Untold = false) => {
    if (!store.away) return false;
    untold.push(unknown);
    if (unknown === 'refuse-any') throw new Error('refused');
    return unknown === true;
  };
  const secondary = {
    unlanded: ask,
    copying: ask,
    lacks: ask,
    anyUnlanded: async (_s: unknown, side: Side, before?: Date) =>
      store.away ? Promise.reject(new Error('store away')) : store.earlier.has(side) || (!before && store.since.has(side)),
  } as unknown as SecondaryWrites;
  turns = new Turns((s, side, before) => secondary.anyUnlanded(s, side, before), [S], 0);
  const deps = { turns, sides: () => sides, secondary, activity: new KeyActivity(), observer };
  const sides = sidesOf();
  const served = (route: Route, write: boolean) =>
    servedAhead(deps, route, planFor(write ? 'write' : 'read', NEW_PRIMARY), NEW_PRIMARY, write) ?? planFor('write', NEW_PRIMARY);
  return { untold, served };
}

it('asks about a key this replica has not written as refused while the store cannot tell, until it says none is left', async () => {
  const store: Store = { away: false, earlier: new Set(['new']), since: new Set(['new']) };
  const { untold, served } = stackOf(store);
  await waitUntil(() => turns!.unseen(S, 'u1', 'new'), 5_000, 'the earlier copies told of');
  // u2 written while the store answers: this replica's own from now on.
  expect(await served(write('u2'), true)).toMatchObject({ primary: 'new' });
  expect(turns!.unseen(S, 'u2', 'new')).toBe(false);
  expect(turns!.unseen(S, 'u1', 'legacy')).toBe(false);

  store.away = true;
  await expect(served(write('u1'), true)).rejects.toThrow('refused');
  await expect(served(read('u1'), false)).rejects.toThrow('refused');
  expect(await served(write('u2'), true)).toMatchObject({ primary: 'new' });
  expect(await served(read('u2'), false)).toMatchObject({ primary: 'new' });
  expect(untold).toEqual(['refuse-any', 'refuse-any', false, 'refuse']);

  // The store back and the earlier copies landed: a key unknown here is asked about as before.
  store.away = false;
  store.earlier.clear();
  await waitUntil(() => !turns!.unseen(S, 'u1', 'new'), 5_000, 'the earlier copies landed');
  store.away = true;
  untold.length = 0;
  expect(await served(write('u1'), true)).toMatchObject({ primary: 'new' });
  expect(untold).toEqual([false]);
});

it('knows of no earlier copies when the store was away since it started', async () => {
  const store: Store = { away: true, earlier: new Set(['new']), since: new Set() };
  const { untold, served } = stackOf(store);
  // Two polls' time: each found the store away.
  await new Promise((r) => setTimeout(r, 1_200));
  expect(turns!.unseen(S, 'u1', 'new')).toBe(false);
  expect(await served(write('u1'), true)).toMatchObject({ primary: 'new' });
  expect(untold).toEqual([false]);
});
