/**
 * What the reconciler and the backfill ask of either side: checksums over key ranges, the records of a
 * range in key order, and keys that split a range. Plus the in-memory index the legacy readers share.
 */
import { compareKeys, type CanonicalRecord } from '../services/records.js';
import { digestWords, recordDigest, type KeyRange } from './canonical.js';

/** How many keys a range holds and the sums (mod 2^32) of their digests' two leading words. */
export interface RangeChecksum {
  count: number;
  a: number;
  b: number;
}

export interface RecordsOptions {
  /** Only keys after this one (paging). */
  after?: string;
  limit?: number;
}

export interface RecordSource {
  checksums(ranges: readonly KeyRange[]): Promise<RangeChecksum[]>;
  /**
   * Keys cutting a range into segments of about `size` keys, for planning: approximate is fine (a
   * source may estimate them from a sample).
   */
  segmentKeys(range: KeyRange, size: number): Promise<string[]>;
  /** Records in key order. */
  records(range: KeyRange, opts?: RecordsOptions): Promise<CanonicalRecord[]>;
  /** The records of exactly these keys, in key order (absent ones left out). */
  recordsOf(keys: readonly string[]): Promise<CanonicalRecord[]>;
  /** At most parts - 1 keys of the range cutting it into pieces of about equal count. */
  splitKeys(range: KeyRange, parts: number): Promise<string[]>;
  /** Elements this side keeps beyond what the legacy service retains (history, not differences); none if absent. */
  retained?(range: KeyRange): Promise<number>;
  close(): Promise<void>;
}

export const sameChecksum = (x: RangeChecksum, y: RangeChecksum): boolean => x.count === y.count && x.a === y.a && x.b === y.b;

const YIELD_EVERY = 4096;

/** A copy of `a` with twice the room (typed arrays wrap on overflow: sums mod 2^32 for free). */
function grown(a: Uint32Array): Uint32Array {
  const bigger = new Uint32Array(a.length * 2);
  bigger.set(a);
  return bigger;
}

/** Pages of a source's records over a range, in key order. */
export async function* scanRecords(source: RecordSource, range: KeyRange, batch: number, after?: string): AsyncGenerator<CanonicalRecord[]> {
  for (;;) {
    const page = await source.records(range, { limit: batch, ...(after === undefined ? {} : { after }) });
    if (page.length === 0) return;
    yield page;
    after = page[page.length - 1]!.key;
    if (page.length < batch) return;
  }
}

/**
 * A legacy store read once into sorted keys and per-key digests (prefix sums make any range's checksum
 * O(log n)); records themselves are rebuilt on demand by `load` for an index range [i, j).
 */
export class LegacyIndex implements RecordSource {
  private constructor(
    readonly keys: readonly string[],
    /** Running sums (mod 2^32) of the digests' two leading words: entry i covers the first i keys. */
    private readonly prefixA: Uint32Array,
    private readonly prefixB: Uint32Array,
    private readonly load: (i: number, j: number) => CanonicalRecord[] | Promise<CanonicalRecord[]>,
    private readonly onClose: () => void,
  ) {}

  /**
   * Builds the index from records already in key order (digests computed here, only their running sums
   * kept), yielding to the event loop now and then so the other side's queries proceed meanwhile.
   */
  static async build(
    records: Iterable<CanonicalRecord>,
    load: LegacyIndex['load'],
    onClose: () => void = () => {},
    digest: (r: CanonicalRecord) => string = recordDigest,
  ): Promise<LegacyIndex> {
    const keys: string[] = [];
    let sums: [Uint32Array, Uint32Array] = [new Uint32Array(1024), new Uint32Array(1024)];
    for (const r of records) {
      const n = keys.length;
      if (n + 2 > sums[0].length) sums = [grown(sums[0]), grown(sums[1])];
      const [a, b] = digestWords(digest(r));
      sums[0][n + 1] = sums[0][n]! + a;
      sums[1][n + 1] = sums[1][n]! + b;
      keys.push(r.key);
      if (keys.length % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const end = keys.length + 1;
    return new LegacyIndex(keys, sums[0].slice(0, end), sums[1].slice(0, end), load, onClose);
  }

  get size(): number {
    return this.keys.length;
  }

  /** First index whose key is >= key. */
  private lowerBound(key: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.keys[mid]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private bounds(range: KeyRange): [number, number] {
    const i = range.from === undefined ? 0 : this.lowerBound(range.from);
    const j = range.to === undefined ? this.keys.length : this.lowerBound(range.to);
    return [i, Math.max(i, j)];
  }

  async checksums(ranges: readonly KeyRange[]): Promise<RangeChecksum[]> {
    return ranges.map((r) => {
      const [i, j] = this.bounds(r);
      return {
        count: j - i,
        a: (this.prefixA[j]! - this.prefixA[i]!) >>> 0,
        b: (this.prefixB[j]! - this.prefixB[i]!) >>> 0,
      };
    });
  }

  async segmentKeys(range: KeyRange, size: number): Promise<string[]> {
    const [i, j] = this.bounds(range);
    return this.splitKeys(range, Math.ceil((j - i) / size));
  }

  async records(range: KeyRange, opts: RecordsOptions = {}): Promise<CanonicalRecord[]> {
    let [i, j] = this.bounds(range);
    if (opts.after !== undefined) {
      i = Math.max(i, this.lowerBound(opts.after));
      if (i < j && this.keys[i] === opts.after) i++;
    }
    if (opts.limit !== undefined) j = Math.min(j, i + opts.limit);
    return i < j ? this.load(i, j) : [];
  }

  async recordsOf(keys: readonly string[]): Promise<CanonicalRecord[]> {
    const indexes = [...new Set(keys)]
      .sort(compareKeys)
      .map((key) => [key, this.lowerBound(key)] as const)
      .filter(([key, i]) => this.keys[i] === key)
      .map(([, i]) => i);
    // Neighbouring keys are loaded together: one read per run of consecutive keys, not one per key.
    const out: CanonicalRecord[] = [];
    for (let start = 0; start < indexes.length;) {
      let end = start + 1;
      while (end < indexes.length && indexes[end] === indexes[end - 1]! + 1) end++;
      out.push(...(await this.load(indexes[start]!, indexes[end - 1]! + 1)));
      start = end;
    }
    return out;
  }

  async splitKeys(range: KeyRange, parts: number): Promise<string[]> {
    const [i, j] = this.bounds(range);
    const out: string[] = [];
    for (let p = 1; p < parts; p++) {
      const at = i + Math.floor(((j - i) * p) / parts);
      if (at > i && at < j && this.keys[at] !== out.at(-1)) out.push(this.keys[at]!);
    }
    return out;
  }

  async close(): Promise<void> {
    this.onClose();
  }
}

/** A source still being read (a legacy store loading while the other side's first checksums run). */
export class DeferredSource<S extends RecordSource = RecordSource> implements RecordSource {
  constructor(readonly ready: Promise<S>) {
    // A failed load is reported by the first call that needs the source.
    ready.catch(() => undefined);
  }

  checksums(ranges: readonly KeyRange[]) {
    return this.ready.then((s) => s.checksums(ranges));
  }
  segmentKeys(range: KeyRange, size: number) {
    return this.ready.then((s) => s.segmentKeys(range, size));
  }
  records(range: KeyRange, opts?: RecordsOptions) {
    return this.ready.then((s) => s.records(range, opts));
  }
  recordsOf(keys: readonly string[]) {
    return this.ready.then((s) => s.recordsOf(keys));
  }
  splitKeys(range: KeyRange, parts: number) {
    return this.ready.then((s) => s.splitKeys(range, parts));
  }
  retained(range: KeyRange) {
    return this.ready.then((s) => s.retained?.(range) ?? 0);
  }
  close() {
    return this.ready.then(
      (s) => s.close(),
      () => undefined,
    );
  }
}
