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

it('takes no late copy of one of the truth’s elements for a newer write where the side lacks the truth’s newest', () => {
  // Legacy holds a, b, d; the orchestrator lacks d, and its copies of a and b were stamped 2 s late (slow answers), b's
  // past d's own stamp: a copy, not a write that landed since, so nothing is kept after the truth (it was, doubled).
  const truth = record([...old, ['user_query', 'd', null, 102.5]], []);
  const current = record(
    [
      ['code', 'a', null, 102.5],
      ['user_query', 'b', null, 103.5],
      ['code', 'live', null, 104.0],
    ],
    [],
  );
  expect(withNewer(S, truth, current, 1).lists).toEqual([[...truth.lists[0]!, ['code', 'live', null, 104.0]], []]);
});

it('keeps a live write repeating the text of an older element the side lacks: after the copies in order, not one of them', () => {
  // Legacy holds a, b; the orchestrator lost a's copy, holds b, then a live write of a's text again.
  const truth = record(old, []);
  const current = record([old[1]!, ['code', 'a', null, 105.0]], []);
  expect(withNewer(S, truth, current, 1).lists).toEqual([[...old, ['code', 'a', null, 105.0]], []]);
});
