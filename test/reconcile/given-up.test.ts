/** What a give-up takes from a key (notKept) and the file it is kept in first (GivenUpFile), each line read back. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { notKept } from '../../src/reconcile/newer.js';
import { GivenUpFile } from '../../src/reconcile/given-up.js';
import type { CanonicalRecord } from '../../src/services/records.js';

const dir = mkdtempSync(join(tmpdir(), 'memshift-given-up-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const jarvis = (...memories: [string, number][]): CanonicalRecord => ({ key: 'u1', header: [], lists: [memories] });
const session = (user: string, ...said: [string, number][]): CanonicalRecord => ({
  key: 's1',
  header: [user, {}],
  lists: [said.map(([content, at]) => ['user', content, {}, at])],
});

it('takes each element the target does not keep, once: alike exactly first, then alike in all but time', () => {
  // "x" twice on the side, once in the target: one goes, the one stamped as the target's copy stays.
  expect(notKept('jarvis-memory', jarvis(['x', 1], ['x', 5], ['y', 6]), jarvis(['x', 5], ['y', 9]))?.record.lists).toEqual([[['x', 1]]]);
  // The same write stamped by each side's clock is not taken.
  expect(notKept('jarvis-memory', jarvis(['a', 1.2], ['b', 2]), jarvis(['a', 1.9], ['b', 2]))).toBeUndefined();
  expect(notKept('jarvis-memory', undefined, jarvis(['a', 1]))).toBeUndefined();
});

it('takes the header when the key goes or its own fields are rewritten, not when they stay', () => {
  expect(notKept('session-memory', session('ana', ['hi', 1]), undefined)).toEqual({ record: session('ana', ['hi', 1]), header: true });
  expect(notKept('session-memory', session('ana', ['hi', 1]), session('bob', ['hi', 1]))).toEqual({ record: session('ana'), header: true });
  expect(notKept('session-memory', session('ana', ['hi', 1], ['gone', 2]), session('ana', ['hi', 1]))).toEqual({
    record: session('ana', ['gone', 2]),
    header: false,
  });
});

it('keeps one line a key, with the requests that would write it again; a key done twice adds only what it had not kept', async () => {
  const path = join(dir, 'kept.jsonl');
  const file = await GivenUpFile.open(path, 'session-memory', 'legacy');
  await file.keep('s1', { record: session('ana', ['gone', 2]), header: false });
  // The key done again after its hold ran out: the element kept already is not kept twice.
  await file.keep('s1', { record: session('ana', ['gone', 2], ['late', 3]), header: true });
  await file.keep('s1', { record: session('ana', ['gone', 2]), header: true });
  await file.close();
  const lines = readFileSync(path, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(lines.map(({ at: _, ...l }) => l)).toEqual([
    {
      service: 'session-memory',
      side: 'legacy',
      key: 's1',
      given_up: { interactions: [{ role: 'user', content: 'gone', metadata: {}, timestamp: 2 }] },
      requests: [{ action: 'add_interaction', session_id: 's1', role: 'user', content: 'gone', metadata: {} }],
    },
    {
      service: 'session-memory',
      side: 'legacy',
      key: 's1',
      given_up: { user_id: 'ana', metadata: {}, interactions: [{ role: 'user', content: 'late', metadata: {}, timestamp: 3 }] },
      requests: [
        { action: 'create_session', session_id: 's1', user_id: 'ana', metadata: {} },
        { action: 'add_interaction', session_id: 's1', role: 'user', content: 'late', metadata: {} },
      ],
    },
  ]);
  expect({ keys: file.keys, elements: file.elements }).toEqual({ keys: 1, elements: 2 });
  // Opened again (a run asked again after one that died): appended to, not replaced.
  const again = await GivenUpFile.open(path, 'session-memory', 'legacy');
  await again.keep('s2', { record: { ...session('eve', ['more', 4]), key: 's2' }, header: false });
  await again.close();
  expect(readFileSync(path, 'utf8').trimEnd().split('\n')).toHaveLength(3);
});
