/** Flag decisions per request: each flag, rollouts and stickiness, the kill switch, snapshots and local overrides. */
import { afterEach, describe, expect, it } from 'vitest';
import { flagName, KILL_SWITCH, serviceFlagNames } from '../../src/flags/names.js';
import type { FlagDecision } from '../../src/flags/source.js';
import { SIM_SERVICES, type SimService as ServiceName } from '../../src/tools/sim/services.js';
import { ids, on, rollout, TempFlags, waitFor, type Edits } from './helpers.js';

const S: ServiceName = 'session-memory';
const n = (k: Parameters<typeof flagName>[1], s: ServiceName = S) => flagName(s, k);

let temps: TempFlags[] = [];
afterEach(async () => {
  await Promise.all(temps.map((t) => t.dispose()));
  temps = [];
});
async function openWith(edits: Edits) {
  const t = await TempFlags.create(edits);
  temps.push(t);
  return t.open();
}

const legacyOnly: FlagDecision = { killSwitch: false, dualWrite: false, shadowRead: false, readNew: false, newPrimary: false, legacyOff: false };
const ctx = { sessionId: 's-1', userId: 'u-1' };

describe('decide: each flag', () => {
  it('all off: legacy only for every service', async () => {
    const flags = await openWith({});
    for (const s of SIM_SERVICES) expect(flags.decide(s, ctx)).toEqual(legacyOnly);
    expect(flags.source).toBe('file');
  });

  it('dual-write writes the secondary, only for its service', async () => {
    const flags = await openWith(on(n('dual-write')));
    expect(flags.decide(S, ctx)).toEqual({ ...legacyOnly, dualWrite: true });
    expect(flags.decide('jarvis-memory', ctx)).toEqual(legacyOnly);
  });

  it('shadow-read at 100% shadows every read and implies dual-write', async () => {
    const flags = await openWith(rollout(n('shadow-read'), 100));
    expect(flags.decide(S, ctx)).toEqual({ ...legacyOnly, dualWrite: true, shadowRead: true });
  });

  it('a rollout flag enabled at 0% changes nothing', async () => {
    const flags = await openWith({ ...rollout(n('shadow-read'), 0), ...rollout(n('read-new'), 0) });
    expect(flags.decide(S, ctx)).toEqual(legacyOnly);
  });

  it('read-new at 100% serves reads from new and still dual-writes', async () => {
    const flags = await openWith(rollout(n('read-new'), 100));
    expect(flags.decide(S, ctx)).toEqual({ ...legacyOnly, dualWrite: true, readNew: true });
    // No session id: nothing to be sticky on, so the read stays on legacy.
    expect(flags.decide(S, { userId: 'u-1' }).readNew).toBe(false);
  });

  it('new-primary: new first, legacy second, every read from new', async () => {
    const flags = await openWith({ ...on(n('new-primary')), ...rollout(n('shadow-read'), 100) });
    expect(flags.decide(S, {})).toEqual({ ...legacyOnly, dualWrite: true, newPrimary: true, readNew: true, shadowRead: true });
  });

  it('legacy-off: new only, nothing shadowed even with the other flags on', async () => {
    const flags = await openWith({ ...on(n('dual-write'), n('new-primary'), n('legacy-off')), ...rollout(n('shadow-read'), 100) });
    expect(flags.decide(S, ctx)).toEqual({ ...legacyOnly, newPrimary: true, readNew: true, legacyOff: true });
  });

  it('the kill switch overrides everything for every service', async () => {
    const everything: Edits = { ...on(KILL_SWITCH) };
    for (const s of SIM_SERVICES) {
      Object.assign(
        everything,
        on(n('dual-write', s), n('new-primary', s), n('legacy-off', s)),
        rollout(n('read-new', s), 100),
        rollout(n('shadow-read', s), 100),
      );
    }
    const flags = await openWith(everything);
    // dualWrite says the stage would write the orchestrator: the writes the kill switch keeps from it leave it behind.
    for (const s of SIM_SERVICES) expect(flags.decide(s, ctx)).toEqual({ ...legacyOnly, killSwitch: true, dualWrite: true });
    const snap = flags.snapshot();
    expect(snap.killSwitch).toBe(true);
    for (const s of SIM_SERVICES) expect(snap.services[s]!.stage).toBe('killed');
    // A service not migrating yet (off) misses nothing on the orchestrator under it.
    const off = await openWith(on(KILL_SWITCH));
    expect(off.decide(S, ctx)).toEqual({ ...legacyOnly, killSwitch: true });
  });
});

describe('decide: rollout semantics', () => {
  it('read-new at 50% over 5,000 sessions lands within 3 points and is sticky', async () => {
    const flags = await openWith(rollout(n('read-new'), 50));
    const sessions = ids('sess', 5000);
    const first = sessions.map((sessionId) => flags.decide(S, { sessionId }).readNew);
    const share = first.filter(Boolean).length / sessions.length;
    expect(share).toBeGreaterThan(0.47);
    expect(share).toBeLessThan(0.53);
    for (let round = 0; round < 3; round++) {
      // Same session, any user: the same answer.
      expect(sessions.map((sessionId, i) => flags.decide(S, { sessionId, userId: `u-${round}-${i}` }).readNew)).toEqual(first);
    }
  });

  it('shadow-read at 30% over 5,000 requests lands within 3 points, drawn per request', async () => {
    const flags = await openWith(rollout(n('shadow-read'), 30));
    const draws = Array.from({ length: 5000 }, () => flags.decide(S, { sessionId: 'one-session' }).shadowRead);
    const share = draws.filter(Boolean).length / draws.length;
    expect(share).toBeGreaterThan(0.27);
    expect(share).toBeLessThan(0.33);
  });

  it('jarvis-memory read-new sticks on userId, session-memory on sessionId', async () => {
    const flags = await openWith({ ...rollout(n('read-new', 'jarvis-memory'), 50), ...rollout(n('read-new'), 50) });
    const users = ids('user', 400);
    const jarvis = users.map((userId) => flags.decide('jarvis-memory', { userId, sessionId: 'a' }).readNew);
    expect(users.map((userId, i) => flags.decide('jarvis-memory', { userId, sessionId: `b-${i}` }).readNew)).toEqual(jarvis);
    // userId really is the input: different users get different answers.
    expect(jarvis.filter(Boolean).length).toBeGreaterThan(150);
    expect(jarvis.filter(Boolean).length).toBeLessThan(250);
    expect(flags.decide('jarvis-memory', { sessionId: 'only-a-session' }).readNew).toBe(false);
    // And session-memory ignores userId: one session, many users, one answer.
    const bySession = ids('sess', 400).map((sessionId) => flags.decide(S, { sessionId, userId: 'x' }).readNew);
    expect(ids('sess', 400).map((sessionId, i) => flags.decide(S, { sessionId, userId: `y-${i}` }).readNew)).toEqual(bySession);
  });

  it('reads the Unleash context property "service" (a constraint on it applies)', async () => {
    const t = await TempFlags.create({});
    temps.push(t);
    const doc = JSON.parse(await (await import('node:fs/promises')).readFile(t.file, 'utf8'));
    const kill = doc.features.find((f: { name: string }) => f.name === KILL_SWITCH);
    kill.enabled = true;
    kill.strategies[0].constraints = [{ contextName: 'service', operator: 'IN', values: ['jarvis-memory'] }];
    await t.writeRaw(JSON.stringify(doc));
    const flags = await t.open();
    expect(flags.decide('jarvis-memory', ctx).killSwitch).toBe(true);
    expect(flags.decide(S, ctx).killSwitch).toBe(false);
  });
});

describe('snapshot and local overrides', () => {
  it('snapshot reports flags with rollouts and the stage per service', async () => {
    const flags = await openWith({
      ...on(n('dual-write')),
      ...rollout(n('shadow-read'), 30),
      ...rollout(n('read-new'), 10),
      ...on(n('dual-write', 'jarvis-memory')),
    });
    const snap = flags.snapshot();
    expect(snap.killSwitch).toBe(false);
    expect(snap.services[S]!.stage).toBe('cutover');
    expect(snap.services['jarvis-memory']!.stage).toBe('dual-write');
    expect(snap.services['contextual-memory']!.stage).toBe('off');
    expect(Object.keys(snap.services[S]!.flags)).toEqual(serviceFlagNames(S));
    expect(snap.services[S]!.flags[n('read-new')]).toEqual({ enabled: true, rollout: 10 });
    expect(snap.services[S]!.flags[n('shadow-read')]).toEqual({ enabled: true, rollout: 30 });
    expect(snap.services[S]!.flags[n('new-primary')]).toEqual({ enabled: false });
  });

  it('forces a flag off locally on top of the definitions, and clears it', async () => {
    const flags = await openWith({ ...on(n('dual-write')), ...rollout(n('read-new'), 100) });
    let changes = 0;
    flags.onChange(() => changes++);
    expect(flags.decide(S, ctx).readNew).toBe(true);

    flags.setLocalOverride(n('read-new'), false);
    expect(flags.decide(S, ctx)).toEqual({ ...legacyOnly, dualWrite: true });
    expect(flags.snapshot().services[S]!).toEqual(expect.objectContaining({ stage: 'dual-write' }));
    expect(flags.snapshot().services[S]!.flags[n('read-new')]).toEqual({ enabled: false, rollout: 100, forcedOff: true });
    flags.setLocalOverride(n('read-new'), false); // no change, no event
    expect(changes).toBe(1);

    for (const name of serviceFlagNames(S)) flags.setLocalOverride(name, false);
    expect(flags.decide(S, ctx)).toEqual(legacyOnly);

    for (const name of serviceFlagNames(S)) flags.setLocalOverride(name, null);
    expect(flags.decide(S, ctx)).toEqual({ ...legacyOnly, dualWrite: true, readNew: true });
    expect(() => flags.setLocalOverride('memshift.nope', false)).toThrow(/unknown flag/);
  });

  it('works a request-independent decision out again when the flags file changes', async () => {
    const t = await TempFlags.create({});
    temps.push(t);
    const flags = await t.open();
    // Every flag off: the decision does not depend on the request, so it is kept between requests.
    expect(flags.decide(S, ctx)).toEqual(legacyOnly);
    expect(flags.decide(S, { sessionId: 's-2' })).toEqual(legacyOnly);
    await t.write(on(n('dual-write')));
    await waitFor(() => flags.decide(S, ctx).dualWrite);
    expect(flags.decide(S, ctx)).toEqual({ ...legacyOnly, dualWrite: true });
    expect(flags.decide('jarvis-memory', ctx)).toEqual(legacyOnly);
  });

  it('forcing the kill switch off locally lets the service flags through', async () => {
    const flags = await openWith({ ...on(KILL_SWITCH, n('dual-write')) });
    expect(flags.decide(S, ctx).killSwitch).toBe(true);
    flags.setLocalOverride(KILL_SWITCH, false);
    expect(flags.decide(S, ctx)).toEqual({ ...legacyOnly, dualWrite: true });
    expect(flags.snapshot().killSwitch).toBe(false);
  });
});
