/**
 * A turn while the state store is away (`npm run chaos` with the store paused: writes moved onto the orchestrator
 * while JarvisMemoryAgent restarted had their copies queued towards legacy; the store paused; the next writes went to
 * legacy ahead of them). Nothing can be asked of a key then: a key this replica last wrote first to the other side
 * stays there, so each side takes its writes in order; a key it does not know goes to the flags' side.
 */
import { afterEach, expect, it } from 'vitest';
import { KeyActivity } from '../../src/plan/key-activity.js';
import { planFor, type FlagDecision } from '../../src/plan/plan.js';
import type { SecondaryWrites } from '../../src/plan/secondary.js';
import { servedAhead } from '../../src/plan/turned.js';
import { Turns } from '../../src/plan/turns.js';
import { observer, routeOf, sidesOf } from './turn-deps.js';
import type { Route } from '../../src/routes/route.js';
import { waitUntil } from '../outbox/support.js';

const S = 'jarvis-memory' as const;
const DUAL: FlagDecision = { killSwitch: false, dualWrite: true, shadowRead: false, readNew: false, newPrimary: false, legacyOff: false };
const NEW_PRIMARY: FlagDecision = { ...DUAL, newPrimary: true };

const write = (user: string): Route => routeOf(S, { action: 'add_memory', user_id: user, memory: 'm' });
const sides = sidesOf();

let turns: Turns | undefined;
afterEach(() => turns?.close());

/**
 * Turns over a scripted store: `away`, it answers no question (each key's is answered with the caller's `unknown`, as
 * the outbox does); `pollFails`, only the watch's poll fails; `queued`: copies on their way ("<key> towards <side>").
 */
function stackOf() {
  const store = { away: false, pollFails: false, queued: new Set<string>(), asked: [] as string[] };
  const ask = async (_s: unknown, key: string, side: string, unknown = false) => (
    store.asked.push(`${key} towards ${side}`),
    store.away ? unknown : store.queued.has(`${key} towards ${side}`)
  );
  const secondary = {
    unlanded: ask,
    copying: ask,
    lacks: ask,
    anyUnlanded: async () => (store.away || store.pollFails ? Promise.reject(new Error('store away')) : false),
  } as unknown as SecondaryWrites;
  turns = new Turns((s, side) => secondary.anyUnlanded(s, side), [S], 0);
  const deps = { turns, sides: () => sides, secondary, activity: new KeyActivity(), observer };
  const plan = (route: Route, flags: FlagDecision) => servedAhead(deps, route, planFor('write', flags), flags, true) ?? planFor('write', flags);
  return { store, deps, plan };
}

it("keeps a key on the side this replica last wrote it to first while the store cannot tell, and others on the flags' side", async () => {
  const { store, deps, plan } = stackOf();

  // At new-primary, u1 is written first to new (its copy queued towards legacy); u2 at dual-write, to legacy.
  expect(await plan(write('u2'), DUAL)).toMatchObject({ primary: 'legacy' });
  expect(await plan(write('u1'), NEW_PRIMARY)).toMatchObject({ primary: 'new' });
  // Back to dual-write, and the store stops answering before a key could be asked about.
  store.away = true;
  expect(await plan(write('u1'), DUAL)).toMatchObject({ primary: 'new', behind: 'legacy' });
  // Once the watch's poll found the store away too, the outbox answers each key's question with the caller's `unknown`.
  await waitUntil(async () => turns!.away, 5_000, 'the store found away');
  store.asked.length = 0;
  expect(await plan(write('u1'), DUAL)).toMatchObject({ primary: 'new', behind: 'legacy' });
  expect(await plan(write('u2'), DUAL)).toMatchObject({ primary: 'legacy' });
  expect(await plan(write('u3'), DUAL)).toMatchObject({ primary: 'legacy' });
  // A read of u1 too: served by new, which has its writes.
  expect(await servedAhead(deps, routeOf(S, { action: 'get_memories', user_id: 'u1' }), planFor('read', DUAL), DUAL, false)).toMatchObject({
    primary: 'new',
    behind: 'legacy',
  });
  // Each key asked about towards legacy, and the moved write's wait for copies on their way to new.
  expect(store.asked).toEqual(['u1 towards legacy', 'u1 towards new', 'u2 towards legacy', 'u3 towards legacy', 'u1 towards legacy']);
  // The store back, and nothing queued: the flags' side for every key again.
  store.away = false;
  await waitUntil(async () => !turns!.away, 5_000, 'the store back');
  expect(await plan(write('u1'), DUAL)).toMatchObject({ primary: 'legacy' });
});

it("asks about a key once the store answers again, before the watch's poll finds it back: another replica's copy counts", async () => {
  const { store, plan } = stackOf();
  // The watch's poll fails (the store paused a moment ago), so it still takes the store for away.
  store.pollFails = true;
  await waitUntil(async () => turns!.away, 5_000, 'the store found away');
  // Another replica made u5's last write first on new: its copy is on its way to legacy, where the flags send u5.
  store.queued.add('u5 towards legacy');
  expect(await plan(write('u5'), DUAL)).toMatchObject({ primary: 'new', behind: 'legacy' });
});
