/** The comparison walk: plain structure, ignore / set / tolerance rules, bounded diffs, hostile input. */
import { describe, expect, it } from 'vitest';
import { UNCOPYABLE, compare, comparePayloads } from '../../src/comparison/compare.js';
import { parseReply } from '../../src/comparison/observation.js';
import { pyDumps } from '../../src/util/pyjson.js';
import { comparisonRulesSchema } from '../../src/comparison/rules.js';

const rules = (r: Parameters<typeof comparisonRulesSchema.parse>[0] = {}) => comparisonRulesSchema.parse(r);
const paths = (c: ReturnType<typeof compare>) => c.diffs.map((d) => d.path);

describe('compare: plain structure', () => {
  it('equal values give no diffs, whatever the key order', () => {
    const c = compare({ a: 1, b: { x: [1, 2], y: 'z' } }, { b: { y: 'z', x: [1, 2] }, a: 1 }, rules());
    expect(c).toEqual({ equal: true, diffs: [], truncated: false, ignored: 0 });
  });

  it('reports a changed leaf with its concrete path and rule-path field', () => {
    const c = compare({ context: [{ content: 'a' }, { content: 'b' }] }, { context: [{ content: 'a' }, { content: 'B' }] }, rules());
    expect(c.equal).toBe(false);
    expect(c.diffs).toEqual([{ path: 'context[1].content', field: 'context[].content', kind: 'content', legacy: 'b', new: 'B' }]);
  });

  it('a type change is one diff at that node', () => {
    const c = compare({ data: { a: 1, b: [1, 2, 3] } }, { data: [1, 2, 3] }, rules());
    expect(c.diffs).toEqual([{ path: 'data', field: 'data', kind: 'type', legacy: { a: 1, b: [1, 2, 3] }, new: [1, 2, 3] }]);
    expect(compare({ n: 1 }, { n: '1' }, rules()).diffs).toHaveLength(1);
  });

  it('missing and extra fields are reported with the absent side undefined', () => {
    const c = compare({ a: 1, gone: 2 }, { a: 1, added: null }, rules());
    expect(c.diffs).toEqual([
      { path: 'gone', field: 'gone', kind: 'missing_on_new', legacy: 2, new: undefined },
      { path: 'added', field: 'added', kind: 'extra_on_new', legacy: undefined, new: null },
    ]);
    // absent serialises as a missing key, not null
    expect(JSON.parse(JSON.stringify(c.diffs[0]))).toEqual({ path: 'gone', field: 'gone', kind: 'missing_on_new', legacy: 2 });
  });

  it('missing and extra list elements, order matters by default', () => {
    expect(compare({ l: [1, 2, 3] }, { l: [1, 2] }, rules()).diffs).toEqual([
      { path: 'l[2]', field: 'l[]', kind: 'missing_on_new', legacy: 3, new: undefined },
    ]);
    expect(compare([1], [1, { x: 1 }], rules()).diffs).toEqual([{ path: '[1]', field: '[]', kind: 'extra_on_new', legacy: undefined, new: { x: 1 } }]);
    // The same elements in another order: one difference of order at the list.
    expect(compare({ l: [1, 2] }, { l: [2, 1] }, rules()).diffs.map((d) => [d.path, d.kind])).toEqual([['l', 'order']]);
  });

  it('bare values at the root', () => {
    expect(compare(true, true, rules()).equal).toBe(true);
    expect(compare(true, false, rules()).diffs).toEqual([{ path: '', field: '', kind: 'content', legacy: true, new: false }]);
    expect(compare(null, { last_updated: 1 }, rules()).diffs).toEqual([{ path: '', field: '', kind: 'type', legacy: null, new: { last_updated: 1 } }]);
    expect(compare(null, null, rules()).equal).toBe(true);
    expect(compare(undefined, null, rules()).equal).toBe(false);
  });

  it('NaN equals NaN; infinities and zero signs behave', () => {
    expect(compare({ x: NaN }, { x: NaN }, rules()).equal).toBe(true);
    expect(compare({ x: NaN }, { x: 0 }, rules()).equal).toBe(false);
    expect(compare({ x: Infinity }, { x: Infinity }, rules()).equal).toBe(true);
    expect(compare({ x: Infinity }, { x: -Infinity }, rules({ tolerance: { x: 1e9 } })).equal).toBe(false);
    expect(compare({ x: NaN }, { x: 1 }, rules({ tolerance: { x: 1e9 } })).equal).toBe(false);
    expect(compare({ x: 0 }, { x: -0 }, rules()).equal).toBe(true);
  });

  it('keys with dots or brackets are quoted in paths; own keys only', () => {
    expect(paths(compare({ 'a.b': 1 }, { 'a.b': 2 }, rules()))).toEqual(['["a.b"]']);
    const proto = JSON.parse('{"__proto__": 1}') as object;
    expect(compare({ constructor: 1 }, {}, rules()).diffs).toEqual([
      { path: 'constructor', field: 'constructor', kind: 'missing_on_new', legacy: 1, new: undefined },
    ]);
    expect(compare(proto, {}, rules()).diffs).toHaveLength(1);
  });
});

describe('compare: rules', () => {
  it('ignore removes a field whether it differs or is missing', () => {
    const r = rules({ ignore: ['request_id', 'meta.at'] });
    expect(compare({ request_id: 'a', meta: { at: 1, v: 2 } }, { request_id: 'b', meta: { v: 2 } }, r).equal).toBe(true);
    expect(paths(compare({ request_id: 'a', meta: { at: 1, v: 2 } }, { meta: { at: 9, v: 3 } }, r))).toEqual(['meta.v']);
  });

  it('ignore the root makes everything equal', () => {
    expect(compare({ a: 1 }, [2], rules({ ignore: [''] })).equal).toBe(true);
  });

  it('[] reaches every element, * any key, at any depth', () => {
    const r = rules({ ignore: ['items[].meta.*.at', '*.stamp', 'grid[][]'] });
    const legacy = { items: [{ meta: { p: { at: 1, v: 1 }, q: { at: 2 } } }], x: { stamp: 1 }, y: { stamp: 2, k: 1 }, grid: [[1], [2]] };
    const newer = { items: [{ meta: { p: { at: 9, v: 1 }, q: { at: 8 } } }], x: { stamp: 5 }, y: { stamp: 6, k: 1 }, grid: [[3], [4]] };
    expect(compare(legacy, newer, r).equal).toBe(true);
    newer.items[0]!.meta.p.v = 2;
    newer.y.k = 2;
    expect(compare(legacy, newer, r).diffs.map((d) => d.field)).toEqual(['items[].meta.p.v', 'y.k']);
  });

  it('a wildcard does not ignore deeper or shallower paths than written', () => {
    const r = rules({ ignore: ['*.stamp'] });
    expect(paths(compare({ stamp: 1, a: { b: { stamp: 1 } } }, { stamp: 2, a: { b: { stamp: 2 } } }, r))).toEqual(['stamp', 'a.b.stamp']);
  });

  it('sets keyed by a field ignore order and name elements by key', () => {
    const r = rules({ sets: { memories: 'id' } });
    const a = {
      memories: [
        { id: 'm1', memory: { text: 'a' } },
        { id: 'm2', memory: { text: 'b' } },
      ],
    };
    const b = {
      memories: [
        { id: 'm2', memory: { text: 'b' } },
        { id: 'm1', memory: { text: 'a' } },
      ],
    };
    expect(compare(a, b, r).equal).toBe(true);
    expect(compare(a, b, rules()).equal).toBe(false);
    b.memories[1]!.memory.text = 'A';
    expect(compare(a, b, r).diffs).toEqual([{ path: 'memories[key=m1].memory.text', field: 'memories[].memory.text', kind: 'content', legacy: 'a', new: 'A' }]);
  });

  it('sets report missing and extra elements by key, duplicates matched in turn', () => {
    const r = rules({ sets: { tags: '' } });
    expect(compare({ tags: ['a', 'b', 'b'] }, { tags: ['b', 'c', 'a'] }, r).diffs).toEqual([
      { path: 'tags[key=b#2]', field: 'tags[]', kind: 'missing_on_new', legacy: 'b', new: undefined },
      { path: 'tags[key=c]', field: 'tags[]', kind: 'extra_on_new', legacy: undefined, new: 'c' },
    ]);
    expect(compare({ tags: [1, { k: 1, j: 2 }] }, { tags: [{ j: 2, k: 1 }, 1] }, r).equal).toBe(true);
    // nested key path, and elements lacking the key still pair up with each other
    const nested = rules({ sets: { l: 'memory.id' } });
    expect(compare({ l: [{ memory: { id: 1 } }, 5] }, { l: [5, { memory: { id: 1 } }] }, nested).equal).toBe(true);
  });

  it('rules below a set apply to its elements', () => {
    const r = rules({ sets: { memories: 'memory' }, ignore: ['memories[].timestamp'] });
    const c = compare(
      {
        memories: [
          { timestamp: 1, memory: 'x' },
          { timestamp: 2, memory: 'y' },
        ],
      },
      {
        memories: [
          { timestamp: 7, memory: 'y' },
          { timestamp: 8, memory: 'x' },
        ],
      },
      r,
    );
    expect(c.equal).toBe(true);
  });

  it('tolerance is an inclusive absolute bound, exact elsewhere', () => {
    const r = rules({ tolerance: { last_updated: 0.5, 'scores[]': 0.01 } });
    expect(compare({ last_updated: 1712345678.125 }, { last_updated: 1712345678.625 }, r).equal).toBe(true);
    expect(compare({ last_updated: 1712345678.125 }, { last_updated: 1712345678.626 }, r).equal).toBe(false);
    expect(compare({ last_updated: 10 }, { last_updated: 9.5 }, r).equal).toBe(true);
    expect(compare({ scores: [0.7, 0.3] }, { scores: [0.705, 0.3] }, r).equal).toBe(true);
    expect(compare({ scores: [0.7, 0.3] }, { scores: [0.72, 0.3] }, r).diffs.map((d) => d.path)).toEqual(['scores[0]']);
    expect(compare({ other: 1 }, { other: 1.0000001 }, r).equal).toBe(false);
    // without a tolerance even neighbouring large floats differ
    expect(compare({ other: 1714557600.5 }, { other: 1714557600.5000002 }, r).equal).toBe(false);
  });

  it('trimStrings compares strings without surrounding whitespace', () => {
    expect(compare({ s: ' a\n' }, { s: 'a' }, rules()).equal).toBe(false);
    expect(compare({ s: ' a\n' }, { s: 'a' }, rules({ trimStrings: true })).equal).toBe(true);
    expect(compare({ s: 'a b' }, { s: 'ab' }, rules({ trimStrings: true })).equal).toBe(false);
  });
});

describe('compare: robustness', () => {
  it('mutating the inputs after comparing cannot change the stored result', () => {
    const legacy = { context: [{ content: 'a', meta: { n: 1 } }] };
    const newer = { context: [{ content: 'a', meta: { n: 2 } }, { content: 'extra' }] };
    const c = compare(legacy, newer, rules());
    const before = JSON.parse(JSON.stringify(c)) as unknown;
    legacy.context[0]!.meta.n = 99;
    (newer.context[1] as { content: string }).content = 'changed';
    newer.context.pop();
    expect(c).toEqual(before);
    expect(c.diffs[1]).toEqual({ path: 'context[1]', field: 'context[]', kind: 'extra_on_new', legacy: undefined, new: { content: 'extra' } });
  });

  it('never mutates its inputs', () => {
    const a = { tags: ['b', 'a'], s: ' x ' };
    const b = { tags: ['a', 'b'], s: 'x' };
    compare(a, b, rules({ sets: { tags: '' }, trimStrings: true }));
    expect(a).toEqual({ tags: ['b', 'a'], s: ' x ' });
    expect(b).toEqual({ tags: ['a', 'b'], s: 'x' });
  });

  it('stops at maxDiffs and flags the cut', () => {
    const a = Array.from({ length: 120 }, (_, i) => ({ i }));
    const b = Array.from({ length: 120 }, (_, i) => ({ i: i + 1 }));
    const c = compare(a, b, rules());
    expect(c.diffs).toHaveLength(50);
    expect(c.truncated).toBe(true);
    expect(c.diffs[49]!.path).toBe('[49].i');
    const small = compare(a, b, rules({ maxDiffs: 3 }));
    expect([small.diffs.length, small.truncated]).toEqual([3, true]);
    const exact = compare([1, 2, 3], [4, 5, 6], rules({ maxDiffs: 3 }));
    expect([exact.diffs.length, exact.truncated]).toEqual([3, false]);
  });

  it('survives nesting deeper than its walk limit and cyclic objects', () => {
    let deepA: unknown = 1;
    let deepB: unknown = 2;
    for (let i = 0; i < 5000; i++) {
      deepA = [deepA];
      deepB = [deepB];
    }
    const c = compare(deepA, deepB, rules());
    expect(c.equal).toBe(false);
    expect(c.diffs).toHaveLength(1);
    expect(c.diffs[0]!.path).toMatch(/^(\[0\]){257}$/);
    expect(compare({ deep: deepA }, { deep: 'flat' }, rules()).diffs).toEqual([{ path: 'deep', field: 'deep', kind: 'type', legacy: UNCOPYABLE, new: 'flat' }]);
    const cyc: Record<string, unknown> = { a: 1 };
    cyc.self = cyc;
    const cyc2: Record<string, unknown> = { a: 1 };
    cyc2.self = cyc2;
    expect(compare(cyc, cyc2, rules()).diffs).toHaveLength(1);
  });
});

describe('comparePayloads', () => {
  it('parses both frames and compares values, not bytes', () => {
    const c = comparePayloads(Buffer.from('{"status": "ok", "a": [1, 2]}'), '{"a":[1,2],"status":"ok"}', rules());
    expect(c.equal).toBe(true);
    expect(comparePayloads('true', Buffer.from('false'), rules()).diffs).toEqual([{ path: '', field: '', kind: 'content', legacy: true, new: false }]);
    expect(comparePayloads('null', 'null', rules()).equal).toBe(true);
  });

  it('a frame that is not JSON is compared as raw text', () => {
    expect(comparePayloads('not json', 'not json', rules()).equal).toBe(true);
    const [diff] = comparePayloads('not json', '{"a": 1}', rules()).diffs;
    expect([diff!.legacy, pyDumps(diff!.new)]).toEqual(['not json', '{"a": 1}']);
    expect(comparePayloads(Buffer.from([0xff, 0xfe]), '', rules()).equal).toBe(false);
  });

  it("reads Python's bare NaN / Infinity without touching strings", () => {
    expect(parseReply(Buffer.from('{"x": NaN, "y": -Infinity, "s": "NaN, Infinity"}'))).toEqual({ x: NaN, y: -Infinity, s: 'NaN, Infinity' });
    expect(comparePayloads('{"x": NaN}', '{"x": NaN}', rules()).equal).toBe(true);
    expect(parseReply(Buffer.from('NaN is not a reply'))).toBe('NaN is not a reply');
  });

  it('tells numbers apart by their spelling, except under a tolerance', () => {
    expect(comparePayloads('{"n": 3.0}', '{"n": 3.0}', rules()).equal).toBe(true);
    expect(comparePayloads('{"n": 3.0}', '{"n": 3}', rules()).diffs).toHaveLength(1);
    expect(comparePayloads('{"t": 1.0}', '{"t": 1.5}', rules({ tolerance: { t: 1 } })).equal).toBe(true);
    expect(compare({ n: 0.5 }, parseReply(Buffer.from('{"n": 0.5}')), rules()).equal).toBe(true);
  });

  it('reads a view into a larger buffer correctly', () => {
    const big = Buffer.from('xx{"a": 1}yy');
    expect(pyDumps(parseReply(big.subarray(2, 10)))).toBe('{"a": 1}');
  });
});
