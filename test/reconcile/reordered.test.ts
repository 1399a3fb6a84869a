/** reordered: the truth's own elements in the order of a side that holds them all elsewhere, and nothing else. */
import { expect, it } from 'vitest';
import { reordered } from '../../src/reconcile/repair-run.js';
import type { CanonicalRecord } from '../../src/services/records.js';

const S = 'contextual-memory';
const record = (header: unknown, interactions: unknown[][], decisions: unknown[][]): CanonicalRecord => ({
  key: 'c1',
  header: [header],
  lists: [interactions, decisions],
});
const asked = [['user_query', 'q', null, 100.5]];
const truth = record('new snapshot', asked, [
  ['same', 101.0],
  ['kept', 102.0],
  ['same', 103.0],
  ['late', 104.0],
]);

it("takes the side's order and header, each element the truth's own (its time), where the times are not compared", () => {
  const side = record('legacy snapshot', asked, [
    ['same', 201.0],
    ['late', 202.0],
    ['kept', 203.0],
    ['same', 204.0],
  ]);
  expect(reordered(S, truth, side, Infinity)).toEqual(
    record('legacy snapshot', asked, [
      ['same', 101.0],
      ['late', 104.0],
      ['kept', 102.0],
      ['same', 103.0],
    ]),
  );
  // Compared within a second, the side's times are other elements.
  expect(reordered(S, truth, side, 1)).toBeUndefined();
});

it('gives nothing where the side holds another element, one more or one less, or the same order', () => {
  const decisions = truth.lists[1]!;
  const [a, b, c, d] = decisions;
  expect(reordered(S, truth, record('x', asked, [b!, a!, c!, ['other', 104.0]]), Infinity)).toBeUndefined();
  expect(reordered(S, truth, record('x', asked, [b!, a!, c!]), Infinity)).toBeUndefined();
  expect(reordered(S, truth, record('x', asked, [b!, a!, c!, d!, d!]), Infinity)).toBeUndefined();
  expect(reordered(S, truth, record('x', asked, [b!, a!, c!, c!]), Infinity)).toBeUndefined();
  expect(reordered(S, truth, record('x', [], [b!, a!, c!, d!]), Infinity)).toBeUndefined();
  expect(reordered(S, truth, record('x', asked, decisions), Infinity)).toBeUndefined();
});
