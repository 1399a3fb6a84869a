/**
 * Which parked copies a repair settles (parkedAtEnd): the writes the truth lacks at the end of their primary's list, each a
 * parked row's request; and which may be the write of an element the truth lacks (writesAnyOf), stopping a repair.
 */
import { expect, it } from 'vitest';
import { parkedAtEnd, writesAnyOf, type ParkedCopy } from '../../src/reconcile/parked.js';
import type { CanonicalRecord } from '../../src/services/records.js';

const SERVICE = 'contextual-memory';

/** A contextual session: its snapshot, its interactions ([type, content, metadata, time]) and no decisions. */
const session = (snapshot: unknown, ...said: [string, number, Record<string, unknown>?][]): CanonicalRecord => ({
  key: 's1',
  header: [snapshot],
  lists: [said.map(([content, at, metadata]) => ['user_query', content, metadata ?? {}, at]), []],
});

/** A parked row as the outbox stores it: the agent's request, as its agent spelt it. */
const row = (id: string, content: string, metadata?: Record<string, unknown>): ParkedCopy => ({
  id,
  request: Buffer.from(JSON.stringify({ action: 'add_interaction', session_id: 's1', type: 'user_query', content, ...(metadata ? { metadata } : {}) })),
});

const truth = session({ v: 'truth' }, ['a', 1], ['b', 2]);

it("adds the writes at the primary's end that parked rows account for, with the primary's header", () => {
  const primary = session({ v: 'primary' }, ['a', 1], ['b', 2], ['c', 3], ['d', 4, { n: 1, language: 'python' }]);
  const settled = parkedAtEnd(SERVICE, truth, primary, [row('r-d', 'd', { language: 'python', n: 1 }), row('r-x', 'x'), row('r-c', 'c')], 1);
  expect(settled?.ids).toEqual(['r-c', 'r-d']);
  expect(settled?.record).toEqual({ key: 's1', header: [{ v: 'primary' }], lists: [[...truth.lists[0]!, ...primary.lists[0]!.slice(2)], []] });
});

it('settles nothing where a write the truth lacks is not at the end, or no parked row is it', () => {
  // "c" among later writes the truth holds: its place there is not the truth's end.
  expect(parkedAtEnd(SERVICE, truth, session({}, ['a', 1], ['c', 3], ['b', 2]), [row('r-c', 'c')], 1)).toBeUndefined();
  // "c" first, before the two the truth holds alike: the element before the end is alike to the truth's newest.
  const twice = session({}, ['b', 1], ['b', 2]);
  expect(parkedAtEnd(SERVICE, twice, session({}, ['c', 0], ['b', 1], ['b', 2]), [row('r-c', 'c')], 1)).toBeUndefined();
  // "c" at the end but after an element the truth's newest is not.
  expect(parkedAtEnd(SERVICE, truth, session({}, ['a', 1], ['e', 2], ['c', 3]), [row('r-c', 'c'), row('r-e', 'e')], 1)).toBeUndefined();
  // Two at the end, a row for one only; other metadata; an emptied row.
  const two = session({}, ['a', 1], ['b', 2], ['c', 3], ['d', 4]);
  expect(parkedAtEnd(SERVICE, truth, two, [row('r-c', 'c')], 1)).toBeUndefined();
  expect(parkedAtEnd(SERVICE, truth, session({}, ['a', 1], ['b', 2], ['c', 3, { n: 1 }]), [row('r-c', 'c', { n: 2 })], 1)).toBeUndefined();
  expect(parkedAtEnd(SERVICE, truth, session({}, ['a', 1], ['b', 2], ['c', 3]), [{ id: 'r-0', request: Buffer.alloc(0) }], 1)).toBeUndefined();
  // Nothing lacking: nothing to settle.
  expect(parkedAtEnd(SERVICE, truth, session({}, ['a', 1], ['b', 2]), [row('r-a', 'a')], 1)).toBeUndefined();
});

it('takes one parked row per write: the same text twice at the end needs two', () => {
  const primary = session({}, ['a', 1], ['b', 2], ['ok', 3], ['ok', 4]);
  expect(parkedAtEnd(SERVICE, truth, primary, [row('r-1', 'ok')], 1)).toBeUndefined();
  expect(parkedAtEnd(SERVICE, truth, primary, [row('r-1', 'ok'), row('r-2', 'ok')], 1)?.ids).toEqual(['r-1', 'r-2']);
});

it('takes a parked row for the write of an element the truth lacks where it is one, or cannot be told apart from one', () => {
  const lacking = session({}, ['c', 3, { language: 'python', n: 1 }]).lists;
  const may = writesAnyOf(SERVICE, 's1', lacking);
  // Its write, whatever the order of its metadata's keys.
  expect(may(row('r-c', 'c', { n: 1, language: 'python' }).request)).toBe(true);
  // Another interaction (one the truth holds, or history before its window): not that write.
  expect(may(row('r-a', 'a').request)).toBe(false);
  expect(may(row('r-c', 'c', { n: 2, language: 'python' }).request)).toBe(false);
  // Another kind of write (a decision, where only interactions are lacking), and one that cannot be read: they may be.
  expect(may(Buffer.from(JSON.stringify({ action: 'record_decision', session_id: 's1', decision: 'c' })))).toBe(true);
  expect(may(Buffer.alloc(0))).toBe(true);
});
