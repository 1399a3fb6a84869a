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
