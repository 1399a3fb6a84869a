/**
 * What the reconciler and the backfill ask of either side: checksums over key ranges, the records of a
 * range in key order, and keys that split a range; paging over one, and one still being read.
 */
import type { CanonicalRecord } from '../services/records.js';
import type { KeyRange } from './canonical.js';

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
  /**
   * Whether its tables show these acknowledged memshift writes yet (by their write ids): a store written behind its
   * replies may not. Absent where a write is stored before its reply (the legacy services' files).
   */
  showsWrites?(writeIds: readonly string[]): Promise<boolean>;
  close(): Promise<void>;
}

/** What reading some keys as a side holds them now asks of it. */
export type KeyReader = Pick<RecordSource, 'recordsOf' | 'showsWrites'>;

export const sameChecksum = (x: RangeChecksum, y: RangeChecksum): boolean => x.count === y.count && x.a === y.a && x.b === y.b;

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
