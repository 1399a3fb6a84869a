/** The offline flags file reloaded while running: edits, renames, bad files kept out. */
import { afterEach, describe, expect, it } from 'vitest';
import { flagName } from '../../src/flags/names.js';
import { openFlags } from '../../src/flags/source.js';
import { ids, on, rollout, TempFlags, waitFor } from './helpers.js';

const dualWrite = flagName('session-memory', 'dual-write');
const readNew = flagName('session-memory', 'read-new');
const shadowRead = flagName('session-memory', 'shadow-read');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let temps: TempFlags[] = [];
afterEach(async () => {
  await Promise.all(temps.map((t) => t.dispose()));
  temps = [];
});
async function temp(edits = {}) {
  const t = await TempFlags.create(edits);
  temps.push(t);
  return t;
}

describe('offline flags file reload', () => {
  it('an edit in place changes decide within 2 s and fires onChange once', async () => {
    const t = await temp();
    const flags = await t.open();
    let changes = 0;
    flags.onChange(() => changes++);
    expect(flags.decide('session-memory', { sessionId: 'a' }).dualWrite).toBe(false);

    await t.write(on(dualWrite));
    const ms = await waitFor(() => flags.decide('session-memory', { sessionId: 'a' }).dualWrite);
    expect(ms).toBeLessThan(2000);
    expect(flags.snapshot().services['session-memory']!.stage).toBe('dual-write');
    await sleep(1200); // past a poll tick: the watch event and the poll must not double-count
    expect(changes).toBe(1);
  });

  it('a save by rename (editor style) is picked up within 2 s', async () => {
    const t = await temp();
    const flags = await t.open();
    await t.writeByRename(rollout(readNew, 100));
    const ms = await waitFor(() => flags.decide('session-memory', { sessionId: 'a' }).readNew);
    expect(ms).toBeLessThan(2000);
    // And the watch survives the inode swap.
    await t.writeByRename({});
    expect(await waitFor(() => !flags.decide('session-memory', { sessionId: 'a' }).readNew)).toBeLessThan(2000);
  });

  it('a half-written or invalid file keeps the last good flags, then a fix applies', async () => {
    const t = await temp(on(dualWrite));
    const flags = await t.open();
    let changes = 0;
    flags.onChange(() => changes++);
    const good = JSON.stringify(flags.snapshot());

    const { readFile } = await import('node:fs/promises');
    const fullText = await readFile(t.file, 'utf8');
    await t.writeRaw(fullText.slice(0, fullText.length / 2)); // truncated JSON
    await sleep(1300);
    expect(JSON.stringify(flags.snapshot())).toBe(good);
    expect(flags.decide('session-memory', {}).dualWrite).toBe(true);

    await t.writeRaw(fullText.replace('"enabled": true', '"enabled": "yes"')); // valid JSON, wrong shape
    await sleep(1300);
    expect(flags.decide('session-memory', {}).dualWrite).toBe(true);
    expect(changes).toBe(0);

    await t.write({});
    await waitFor(() => !flags.decide('session-memory', {}).dualWrite);
    expect(changes).toBe(1);
  });

  it('read-new answers are stable across a reload that changes another flag', async () => {
    const t = await temp(rollout(readNew, 50));
    const flags = await t.open();
    const sessions = ids('sticky', 1000);
    const before = sessions.map((sessionId) => flags.decide('session-memory', { sessionId }).readNew);
    let changed = false;
    flags.onChange(() => (changed = true));

    await t.write({ ...rollout(readNew, 50), ...rollout(shadowRead, 20) });
    await waitFor(() => changed);
    expect(flags.snapshot().services['session-memory']!.flags[shadowRead]).toEqual({ enabled: true, rollout: 20 });
    expect(sessions.map((sessionId) => flags.decide('session-memory', { sessionId }).readNew)).toEqual(before);

    // Raising the rollout only adds sessions: none already on new goes back to legacy.
    await t.write({ ...rollout(readNew, 80), ...rollout(shadowRead, 20) });
    await waitFor(() => flags.snapshot().services['session-memory']!.flags[readNew]?.rollout === 80);
    const after = sessions.map((sessionId) => flags.decide('session-memory', { sessionId }).readNew);
    expect(before.every((wasNew, i) => !wasNew || after[i])).toBe(true);
    expect(after.filter(Boolean).length).toBeGreaterThan(before.filter(Boolean).length);
  });

  it('an invalid file at startup means every flag off, until it is fixed', async () => {
    const t = await temp();
    await t.writeRaw('{"version": 2, "features": [');
    const flags = await t.open();
    expect(flags.decide('session-memory', { sessionId: 'a' })).toEqual(expect.objectContaining({ dualWrite: false, readNew: false, killSwitch: false }));
    expect(flags.snapshot().services['session-memory']!.stage).toBe('off');
    await t.write(on(dualWrite));
    expect(await waitFor(() => flags.decide('session-memory', {}).dualWrite)).toBeLessThan(2000);
  });

  it('MEMSHIFT_FLAGS_FILE names the file when no path is given', async () => {
    const t = await temp(on(dualWrite));
    const flags = await openFlags({ env: { MEMSHIFT_FLAGS_FILE: t.file } });
    try {
      expect(flags.decide('session-memory', {}).dualWrite).toBe(true);
    } finally {
      await flags.close();
    }
  });
});
