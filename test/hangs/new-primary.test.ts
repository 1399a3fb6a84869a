/**
 * Acceptance, new primary: 12 writers each on jarvis-memory and session-memory at new-primary, both legacy
 * services (the secondary now) hung three times, once across a kill -9 of memshift (threeHangs). After the
 * drain: every acknowledged write on both sides, none twice on legacy, each key's order kept, and no agent
 * error but while memshift itself was dead.
 */
import { expect, it } from 'vitest';
import { expectSidesAgree, simHang, threeHangs, useChildStack } from './support.js';

const { sims, memshift, url } = useChildStack({ stage: 'new-primary' });

it('applies every write once and in order on the legacy side through three hangs and a kill -9', async () => {
  const { load, down } = await threeHangs(simHang(sims(), ['session-memory', 'jarvis-memory']), memshift(), url(), 'np');
  expect(load.acked).toBeGreaterThan(1_000);
  expectSidesAgree(sims(), load);
  expect(load.errorsOutside([down])).toBe(0);
}, 240_000);
