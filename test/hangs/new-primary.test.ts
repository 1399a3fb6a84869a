/**
 * Acceptance, new primary: 12 writers each on jarvis-memory and session-memory at new-primary, the legacy
 * services (the secondary) hung three times, once across a kill -9 of memshift (threeHangs). After the
 * drain: every acknowledged write on both sides, none twice, each key's order kept, and no agent error but
 * while memshift itself was dead.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SimHandle } from '../../src/sim/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { startSims } from '../support/stack.js';
import { expectSidesAgree, flagsWith, MemshiftChild, stageFlags, threeHangs } from './support.js';

let sims: SimHandle;
let flags: Awaited<ReturnType<typeof flagsWith>>;
let url: string;
let memshift: MemshiftChild;

beforeAll(async () => {
  sims = await startSims();
  flags = await flagsWith(stageFlags('new-primary'));
  url = await freshDatabaseUrl();
  memshift = await MemshiftChild.start(sims, { store: [`store.url=${url}`], flagsFile: flags.file });
}, 90_000);
afterAll(async () => {
  await memshift?.stop();
  await flags?.dispose();
  await sims?.close();
});

it('applies every write once and in order on the legacy side through three hangs and a kill -9', async () => {
  const { load, down } = await threeHangs(sims, memshift, url, ['session-memory', 'jarvis-memory'], 'np');
  expect(load.acked).toBeGreaterThan(1_000);
  expectSidesAgree(sims, load);
  expect(load.errorsOutside([down])).toBe(0);
}, 240_000);
