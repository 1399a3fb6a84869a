/**
 * Acceptance, legacy primary: 12 writers each on jarvis-memory and session-memory at dual-write, the
 * orchestrator (the secondary) hung three times, once across a kill -9 of memshift (threeHangs). After the
 * drain: every acknowledged write on both sides, none twice, each key's order kept, and no agent error but
 * while memshift itself was dead.
 */
import { expect, it } from 'vitest';
import { expectSidesAgree, simHang, threeHangs, useChildStack } from './support.js';

const { sims, memshift, url } = useChildStack({ stage: 'dual-write' });

it('applies every write once and in order on the new side through three hangs and a kill -9', async () => {
  const { load, down } = await threeHangs(simHang(sims(), ['orchestrator']), memshift(), url(), 'lp');
  expect(load.acked).toBeGreaterThan(1_000);
  expectSidesAgree(sims(), load);
  expect(load.errorsOutside([down])).toBe(0);
}, 240_000);
