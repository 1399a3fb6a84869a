/** Kinds of mismatch: each planted difference is reported under its kind, one diff per record missing, extra or moved. */
import { expect, it } from 'vitest';
import { compare, MISMATCH_KINDS } from '../../src/comparison/compare.js';
import { pyLoads } from '../../src/util/pyjson.js';

const rules = { tolerance: { 'memories[].timestamp': 1 } };
const memory = (text: string, timestamp = 1.5, extra: Record<string, unknown> = {}) => ({ timestamp, memory: { text, ...extra } });
const reply = (...memories: unknown[]) => ({ status: 'ok', memories });
const kinds = (legacy: unknown, candidate: unknown) => compare(legacy, candidate, rules).diffs.map((d) => [d.path, d.kind]);

it('a record only on legacy is one missing_on_new, not every later one shifted', () => {
  expect(kinds(reply(memory('a'), memory('b'), memory('c')), reply(memory('a'), memory('c')))).toEqual([['memories[1]', 'missing_on_new']]);
});

it('a record only on new is one extra_on_new', () => {
  expect(kinds(reply(memory('a'), memory('c')), reply(memory('a'), memory('b'), memory('c')))).toEqual([['memories[1]', 'extra_on_new']]);
});

it('the same records in another order are one difference of order', () => {
  expect(kinds(reply(memory('a'), memory('b'), memory('c')), reply(memory('b'), memory('a'), memory('c')))).toEqual([['memories', 'order']]);
});

it('a time beyond its tolerance is a timestamp difference (within it, none)', () => {
  expect(kinds(reply(memory('a', 1.5)), reply(memory('a', 1.9)))).toEqual([]);
  expect(kinds(reply(memory('a', 1.5)), reply(memory('a', 9.5)))).toEqual([['memories[0].timestamp', 'timestamp']]);
  const iso = (t: string) => ({ context: [{ content: 'x', timestamp: t }] });
  const isoRules = { tolerance: { 'context[].timestamp': 1 } };
  expect(compare(iso('2026-11-22T10:00:00.000001'), iso('2026-11-22T10:00:05.000001'), isoRules).diffs.map((d) => d.kind)).toEqual(['timestamp']);
});

it('one number spelt two ways is number_spelling; a value of another type is type; anything else content', () => {
  expect(kinds(pyLoads('{"n": 3.0}'), pyLoads('{"n": 3}'))).toEqual([['n', 'number_spelling']]);
  expect(kinds({ n: '3' }, { n: 3 })).toEqual([['n', 'type']]);
  expect(kinds(reply(memory('a')), reply(memory('b')))).toEqual([['memories[0].memory.text', 'content']]);
  expect(kinds(pyLoads('{"n": 3.0}'), pyLoads('{"n": 4.0}'))).toEqual([['n', 'content']]);
});

it('every kind is reachable', () => {
  const seen = new Set(
    [
      compare(reply(memory('a'), memory('b')), reply(memory('a')), rules),
      compare(reply(memory('a')), reply(memory('a'), memory('b')), rules),
      compare(reply(memory('a'), memory('b')), reply(memory('b'), memory('a')), rules),
      compare(reply(memory('a', 1)), reply(memory('a', 9)), rules),
      compare(pyLoads('[3.0]'), pyLoads('[3]'), rules),
      compare(['3'], [3], rules),
      compare(['a'], ['b'], rules),
    ].flatMap((c) => c.diffs.map((d) => d.kind)),
  );
  expect([...seen].sort()).toEqual([...MISMATCH_KINDS].sort());
});
