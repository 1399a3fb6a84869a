/**
 * The legacy side's sparse index against a brute-force reading of the same records: range checksums, cuts,
 * pages and look-ups agree at every block edge, and a pass over the store re-reads only its segments' edges.
 */
import { describe, expect, it } from 'vitest';
import { digestWords, recordDigest, type KeyRange } from '../../src/reconcile/canonical.js';
import { LegacyIndex } from '../../src/reconcile/legacy-index.js';
import type { CanonicalRecord } from '../../src/services/records.js';

const N = 1_000;
// Keys in order, with gaps (every third number) so that ranges can start between two keys.
const keyOf = (i: number) => `k${String(i * 3).padStart(5, '0')}`;
const records: CanonicalRecord[] = Array.from({ length: N }, (_, i) => ({ key: keyOf(i), header: [i % 7], lists: [[[`m${i}`, i]]] }));

function bruteChecksum(range: KeyRange) {
  const inside = records.filter((r) => (range.from === undefined || r.key >= range.from) && (range.to === undefined || r.key < range.to));
  let a = 0;
  let b = 0;
  for (const r of inside) {
    const [x, y] = digestWords(recordDigest(r));
    a = (a + x) >>> 0;
    b = (b + y) >>> 0;
  }
  return { count: inside.length, a, b, keys: inside.map((r) => r.key) };
}

async function openIndex(maxBlocks?: number) {
  const loads: number[] = [];
  const load = (range: KeyRange, limit = Infinity) => {
    const page = records.filter((r) => (range.from === undefined || r.key >= range.from) && (range.to === undefined || r.key < range.to)).slice(0, limit);
    loads.push(page.length);
    return page;
  };
  const index = await LegacyIndex.build(records, load, maxBlocks === undefined ? {} : { maxBlocks });
  return { index, loads };
}

/** Every pair of bounds as a range. */
const allRanges = (): KeyRange[] =>
  bounds.flatMap((from) => bounds.map((to) => ({ ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) })));

/** Bounds on keys, between keys, and at both ends. */
const bounds = [
  undefined,
  'a',
  keyOf(0),
  keyOf(63),
  keyOf(64),
  `${keyOf(64)}x`,
  keyOf(65),
  keyOf(127),
  keyOf(128),
  keyOf(500),
  `${keyOf(777)}x`,
  keyOf(N - 1),
  'z',
];

describe('LegacyIndex (sparse: one key and two sums per block)', () => {
  it('checksums every range as a brute-force sum over its records', async () => {
    const { index } = await openIndex();
    const ranges = allRanges();
    const sums = await index.checksums(ranges);
    ranges.forEach((r, i) => {
      const { count, a, b } = bruteChecksum(r);
      expect({ range: r, ...sums[i] }).toEqual({ range: r, ...(count === 0 ? { count: 0, a: 0, b: 0 } : { count, a, b }) });
    });
    expect(index.size).toBe(N);
  });

  it('merges blocks past its cap (memory bounded whatever the store size) and still checksums every range exactly', async () => {
    // 1,000 records in blocks of 64 would be 16 blocks; a cap of 4 doubles the block size twice, to 256.
    const { index, loads } = await openIndex(4);
    const ranges = allRanges();
    const sums = await index.checksums(ranges);
    ranges.forEach((r, i) => {
      const { count, a, b } = bruteChecksum(r);
      expect({ range: r, ...sums[i] }).toEqual({ range: r, ...(count === 0 ? { count: 0, a: 0, b: 0 } : { count, a, b }) });
    });
    // Segments are cut at the larger blocks' starts, and an edge inside one re-reads up to 255 records of it.
    expect(await index.segmentKeys({}, 200)).toEqual([256, 512, 768].map(keyOf));
    loads.length = 0;
    await index.checksums([{ to: keyOf(600) }]);
    expect(loads).toEqual([600 - 512]);
    const cuts = await index.splitKeys({}, 4);
    expect(cuts).toEqual([250, 500, 750].map(keyOf));
  });

  it('pages, looks up and splits as the records are', async () => {
    const { index } = await openIndex();
    const all = bruteChecksum({}).keys;
    const paged: string[] = [];
    for (let after: string | undefined; ;) {
      const page = await index.records({ from: keyOf(10) }, { limit: 97, ...(after === undefined ? {} : { after }) });
      paged.push(...page.map((r) => r.key));
      if (page.length < 97) break;
      after = page.at(-1)!.key;
    }
    expect(paged).toEqual(all.slice(10));
    const wanted = [keyOf(900), 'nope', keyOf(64), keyOf(63), `${keyOf(5)}x`, keyOf(64)];
    expect((await index.recordsOf(wanted)).map((r) => r.key)).toEqual([keyOf(63), keyOf(64), keyOf(900)]);

    const range = { from: `${keyOf(100)}x`, to: keyOf(900) };
    const inside = bruteChecksum(range).keys;
    const cuts = await index.splitKeys(range, 16);
    expect(cuts).toHaveLength(15);
    expect(cuts.every((k) => inside.includes(k))).toBe(true);
    // Pieces of about equal count: within one key of each other.
    const sizes = [range.from, ...cuts, range.to].slice(1).map((to, i) => bruteChecksum({ from: [range.from, ...cuts][i]!, to }).count);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
  });

  it('cuts planning segments at block starts, and a pass over them re-reads no record', async () => {
    const { index, loads } = await openIndex();
    const keys = await index.segmentKeys({}, 200);
    expect(keys).toEqual([192, 384, 576, 768, 960].map(keyOf));
    const ranges = [undefined, ...keys].map((from, i) => ({ ...(from === undefined ? {} : { from }), ...(keys[i] === undefined ? {} : { to: keys[i] }) }));
    const sums = await index.checksums(ranges);
    expect(sums.reduce((n, s) => n + s.count, 0)).toBe(N);
    expect(loads).toEqual([]);
  });

  it('re-reads, at an edge that is not a block start, only the records of its block below it, once', async () => {
    const { index, loads } = await openIndex();
    // Segments cut elsewhere (as the orchestrator's sample cuts them): one block re-read per edge, at most 64 records.
    const edges = Array.from({ length: 9 }, (_, i) => `${keyOf(100 * (i + 1) + 7)}x`);
    const ranges = [undefined, ...edges].map((from, i) => ({ ...(from === undefined ? {} : { from }), ...(edges[i] === undefined ? {} : { to: edges[i] }) }));
    await index.checksums(ranges);
    expect(loads).toHaveLength(9);
    // Only the records of the edge's block below it: 100 * k + 7 is 43 + k (mod 64) records into its block.
    expect(loads).toEqual(Array.from({ length: 9 }, (_, k) => (100 * (k + 1) + 8) % 64));
    // One range's end is the next one's start, and a second pass finds every edge kept.
    await index.checksums(ranges);
    expect(loads).toHaveLength(9);
  });
});
