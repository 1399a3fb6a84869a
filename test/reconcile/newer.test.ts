/** withNewer on records as the reconciler reads them: what landed on a side since the truth was read is kept after it. */
import { expect, it } from 'vitest';
import { withNewer } from '../../src/reconcile/newer.js';
import type { CanonicalRecord } from '../../src/services/records.js';

const S = 'contextual-memory';
const record = (interactions: unknown[][], decisions: unknown[][]): CanonicalRecord => ({ key: 'c1', header: [null], lists: [interactions, decisions] });
const old = [
  ['code', 'a', null, 100.5],
  ['user_query', 'b', null, 101.5],
];

it('keeps a live decision of a session whose truth has none yet: newer than the truth’s newest element of any list', () => {
  const truth = record(old, []);
  const current = record(
    [...old, ['code', 'live', null, 103.25]],
    [
      ['stray before', 99.0],
      ['live decision', 102.0],
    ],
  );
  expect(withNewer(S, truth, current, 0).lists).toEqual([[...old, ['code', 'live', null, 103.25]], [['live decision', 102.0]]]);
});

it('keeps nothing of a side whose truth holds no element at all: no time tells what came after it', () => {
  expect(withNewer(S, record([], []), record([['code', 'x', null, 5.0]], [['d', 6.0]]), 0).lists).toEqual([[], []]);
});

it('finds the copy of the truth’s newest element stamped past the tolerance after it (acknowledged late): kept once, what came after it kept', () => {
  const truth = record(old, []);
  // b's copy stamped 1.5 s after legacy's stamp (its answer came late), then a live write after it.
  const current = record([old[0]!, ['user_query', 'b', null, 103.0], ['code', 'c', null, 104.0]], []);
  expect(withNewer(S, truth, current, 1).lists).toEqual([[...old, ['code', 'c', null, 104.0]], []]);
  // An element alike stamped before the truth's (an earlier write of the same text) is not its copy.
  const earlier = record([['user_query', 'b', null, 99.0], ...old.slice(0, 1), ['code', 'c', null, 104.0]], []);
  expect(withNewer(S, truth, earlier, 1).lists).toEqual([[...old, ['code', 'c', null, 104.0]], []]);
});
