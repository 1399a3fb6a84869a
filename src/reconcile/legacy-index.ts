/**
 * The legacy side's index, shared by the legacy readers: a store read once in key order into every 64th key and
 * the running sums of the digests up to it, range checksums answered from those and the edges re-read.
 */
import { compareKeys, type CanonicalRecord } from '../services/records.js';
import { digestWords, recordDigest, type KeyRange } from './canonical.js';
import type { RangeChecksum, RecordSource, RecordsOptions } from './source.js';

const YIELD_EVERY = 4096;

/** A copy of `a` with twice the room (typed arrays wrap on overflow: sums mod 2^32 for free). */
function grown(a: Uint32Array): Uint32Array {
  const bigger = new Uint32Array(a.length * 2);
  bigger.set(a);
  return bigger;
}

/** Keys per block of the legacy index to begin with: its memory is one key and two sums per block. */
const BLOCK = 64;
/** Blocks at most: past it, pairs of blocks are merged (block size doubled), so a larger store costs no more memory. */
const MAX_BLOCKS = 16_384;
/** Blocks, and positions of range bounds, kept at hand (one range's end is the next one's start). */
const KEPT = 32;

/** The most recently used entries, at most KEPT. */
class Recent<K, V> {
  private readonly map = new Map<K, V>();

  get(k: K): V | undefined {
    const v = this.map.get(k);
    if (v !== undefined) {
      this.map.delete(k);
      this.map.set(k, v);
    }
    return v;
  }

  set(k: K, v: V): V {
    this.map.set(k, v);
    if (this.map.size > KEPT) this.map.delete(this.map.keys().next().value!);
    return v;
  }

  clear(): void {
    this.map.clear();
  }
}

/** How many keys come before a bound, and the sums (mod 2^32) of their digests' two leading words. */
interface Position {
  at: number;
  a: number;
  b: number;
}

/** Reads a legacy store's records of a key range, in key order, at most `limit` of them. */
export type RangeLoader = (range: KeyRange, limit?: number) => CanonicalRecord[] | Promise<CanonicalRecord[]>;

export interface IndexOptions {
  /** Called when the index is closed (the store's own close). */
  onClose?: () => void;
  /** A record's digest, as the other side computes it. */
  digest?: (r: CanonicalRecord) => string;
  /** Blocks at most (an even number; tests make it small). */
  maxBlocks?: number;
}

/** One block re-read: its keys and the running sums of their digests' words inside the block. */
interface BlockDetail {
  keys: string[];
  a: Uint32Array;
  b: Uint32Array;
}

/**
 * A legacy store read once, in key order, into a sparse index: the first key of every block and the running sums
 * (mod 2^32) of the digests' two leading words up to it. A range's checksum is two block sums apart, plus
 * the partial blocks at its edges, re-read from the store (recently used ones kept). Blocks grow with the store
 * (64 keys each up to 1M records, then doubled as needed), so a 5M-record store costs no more memory than a 1M one;
 * a larger store re-reads more records at a range's edges instead.
 */
export class LegacyIndex implements RecordSource {
  private readonly blocks = new Recent<number, BlockDetail>();
  private readonly positions = new Recent<string, Position>();

  private constructor(
    /** The first key of each block. */
    private readonly firsts: readonly string[],
    /** Keys per block (the last block may hold fewer). */
    private readonly blockSize: number,
    /** Running sums: entry b covers the blocks before b (the last entry: every key). */
    private readonly prefixA: Uint32Array,
    private readonly prefixB: Uint32Array,
    readonly size: number,
    private readonly load: RangeLoader,
    private readonly digest: (r: CanonicalRecord) => string,
    private readonly onClose: () => void,
  ) {}

  /** Builds the index from records in key order, yielding now and then so the other side's queries proceed meanwhile. */
  static async build(records: Iterable<CanonicalRecord>, load: RangeLoader, opts: IndexOptions = {}): Promise<LegacyIndex> {
    const { onClose = () => {}, digest = recordDigest, maxBlocks = MAX_BLOCKS } = opts;
    let firsts: string[] = [];
    let sums: [Uint32Array, Uint32Array] = [new Uint32Array(1024), new Uint32Array(1024)];
    let blockSize = BLOCK;
    let a = 0;
    let b = 0;
    let n = 0;
    for (const r of records) {
      if (n % blockSize === 0) {
        if (firsts.length === maxBlocks) {
          // Every other block start kept: the index halves and goes on with blocks twice as long (n is a multiple still).
          firsts = firsts.filter((_, i) => i % 2 === 0);
          for (const s of sums) for (let i = 0; i < firsts.length; i++) s[i] = s[2 * i]!;
          blockSize *= 2;
        }
        const block = n / blockSize;
        if (block + 2 > sums[0].length) sums = [grown(sums[0]), grown(sums[1])];
        sums[0][block] = a;
        sums[1][block] = b;
        firsts.push(r.key);
      }
      const [x, y] = digestWords(digest(r));
      a = (a + x) >>> 0;
      b = (b + y) >>> 0;
      n++;
      if (n % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    sums[0][firsts.length] = a;
    sums[1][firsts.length] = b;
    const end = firsts.length + 1;
    return new LegacyIndex(firsts, blockSize, sums[0].slice(0, end), sums[1].slice(0, end), n, load, digest, onClose);
  }

  private blockLength(block: number): number {
    return Math.min(this.blockSize, this.size - block * this.blockSize);
  }

  /** Digest word sums of some records, added to a starting position. */
  private advance(from: Position, records: readonly CanonicalRecord[]): Position {
    let { a, b } = from;
    for (const r of records) {
      const [x, y] = digestWords(this.digest(r));
      a = (a + x) >>> 0;
      b = (b + y) >>> 0;
    }
    return { at: from.at + records.length, a, b };
  }

  /** A block's keys and in-block running sums, re-read from the store (the most recent kept). */
  private async block(block: number): Promise<BlockDetail> {
    const hit = this.blocks.get(block);
    if (hit) return hit;
    const to = this.firsts[block + 1];
    const records = await this.load({ from: this.firsts[block]!, ...(to === undefined ? {} : { to }) }, this.blockLength(block));
    if (records.length !== this.blockLength(block)) throw new Error('the legacy store changed while it was being compared');
    const detail: BlockDetail = { keys: [], a: new Uint32Array(records.length + 1), b: new Uint32Array(records.length + 1) };
    records.forEach((r, i) => {
      const [x, y] = digestWords(this.digest(r));
      detail.keys.push(r.key);
      detail.a[i + 1] = detail.a[i]! + x;
      detail.b[i + 1] = detail.b[i]! + y;
    });
    return this.blocks.set(block, detail);
  }

  /** The last block whose first key is <= key (-1: before every key). */
  private blockOf(key: string): number {
    let lo = 0;
    let hi = this.firsts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.firsts[mid]!, key) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /**
   * Where a range's bound falls (from: undefined is 0; to: undefined is every key). Inside a block, the block's
   * records below the bound are re-read (half a block on average), and the result kept for the next range.
   */
  private async position(key: string | undefined, open: 'from' | 'to'): Promise<Position> {
    if (key === undefined) {
      const last = this.firsts.length;
      return open === 'from' ? { at: 0, a: 0, b: 0 } : { at: this.size, a: this.prefixA[last]!, b: this.prefixB[last]! };
    }
    const block = this.blockOf(key);
    if (block < 0) return { at: 0, a: 0, b: 0 };
    const base = { at: block * this.blockSize, a: this.prefixA[block]!, b: this.prefixB[block]! };
    if (this.firsts[block] === key) return base;
    const known = this.positions.get(key);
    if (known) return known;
    return this.positions.set(key, this.advance(base, await this.load({ from: this.firsts[block]!, to: key }, this.blockLength(block))));
  }

  /** Positions of a range's two bounds. */
  private async span(range: KeyRange) {
    return [await this.position(range.from, 'from'), await this.position(range.to, 'to')] as const;
  }

  /** The key at a position (0 <= at < size). */
  private async keyAt(at: number): Promise<string> {
    const block = Math.floor(at / this.blockSize);
    const inside = at % this.blockSize;
    return inside === 0 ? this.firsts[block]! : (await this.block(block)).keys[inside]!;
  }

  async checksums(ranges: readonly KeyRange[]): Promise<RangeChecksum[]> {
    const out: RangeChecksum[] = [];
    for (const r of ranges) {
      const [from, to] = await this.span(r);
      out.push(to.at <= from.at ? { count: 0, a: 0, b: 0 } : { count: to.at - from.at, a: (to.a - from.a) >>> 0, b: (to.b - from.b) >>> 0 });
    }
    return out;
  }

  /** Cut at block starts, so planning re-reads nothing. */
  async segmentKeys(range: KeyRange, size: number): Promise<string[]> {
    const [{ at: from }, { at: to }] = await this.span(range);
    const step = Math.max(this.blockSize, Math.round(size / this.blockSize) * this.blockSize);
    const out: string[] = [];
    for (let at = Math.ceil((from + 1) / step) * step; at < to; at += step) out.push(this.firsts[at / this.blockSize]!);
    return out;
  }

  async records(range: KeyRange, opts: RecordsOptions = {}): Promise<CanonicalRecord[]> {
    const after = opts.after;
    const from = after === undefined ? range.from : range.from === undefined || compareKeys(after, range.from) >= 0 ? after : range.from;
    const limit = opts.limit === undefined ? undefined : opts.limit + (after === undefined ? 0 : 1);
    const page = await this.load({ ...(from === undefined ? {} : { from }), ...(range.to === undefined ? {} : { to: range.to }) }, limit);
    const rest = after !== undefined && page[0]?.key === after ? page.slice(1) : page;
    return opts.limit === undefined ? rest : rest.slice(0, opts.limit);
  }

  async recordsOf(keys: readonly string[]): Promise<CanonicalRecord[]> {
    const out: CanonicalRecord[] = [];
    for (const key of [...new Set(keys)].sort(compareKeys)) {
      const [r] = await this.load({ from: key }, 1);
      if (r?.key === key) out.push(r);
    }
    return out;
  }

  async splitKeys(range: KeyRange, parts: number): Promise<string[]> {
    const [{ at: i }, { at: j }] = await this.span(range);
    const out: string[] = [];
    for (let p = 1; p < parts; p++) {
      const at = i + Math.floor(((j - i) * p) / parts);
      if (at <= i || at >= j) continue;
      const key = await this.keyAt(at);
      if (key !== out.at(-1)) out.push(key);
    }
    return out;
  }

  async close(): Promise<void> {
    this.blocks.clear();
    this.positions.clear();
    this.onClose();
  }
}
