// Its own file: it breaks fs.watch for the whole module graph to prove the stat poll alone suffices.
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { flagName } from '../../src/flags/names.js';
import { on, TempFlags, waitFor } from './helpers.js';

const realWatch = fs.watch;
let t: TempFlags;
beforeAll(async () => {
  fs.watch = (() => {
    throw new Error('fs.watch unavailable here');
  }) as typeof fs.watch;
  syncBuiltinESMExports();
  t = await TempFlags.create();
});
afterAll(async () => {
  fs.watch = realWatch;
  syncBuiltinESMExports();
  await t.dispose();
});

it('without fs.watch, the stat poll still applies an edit within 2 s', async () => {
  const flags = await t.open();
  const dualWrite = flagName('jarvis-memory', 'dual-write');
  await t.write(on(dualWrite));
  expect(await waitFor(() => flags.decide('jarvis-memory', { userId: 'u' }).dualWrite)).toBeLessThan(2000);
});
