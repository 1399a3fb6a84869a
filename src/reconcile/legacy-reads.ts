/**
 * The legacy store as it is now, for reading some keys: a read is served by a read of the file begun after it was
 * asked for (reloadLegacy; none when the file did not change), reads asked together sharing one. Agents' writes reach
 * legacy while a run goes on (they land there first, or through the outbox at new-primary), so an older read misses them.
 * Where legacy is the primary only the first read needs that (later writes are newer than all it holds, which a
 * re-check allows on the secondary), and a whole store's read each time would cost more than it tells: `everyRead` off.
 */
import type { CanonicalRecord } from '../services/records.js';
import type { KeyReader, RecordSource } from './source.js';

interface Loaded {
  source: RecordSource;
  /** Reads under way on it: a superseded source is closed once none is. */
  users: number;
  superseded: boolean;
}

export class LegacyReads implements KeyReader {
  private current: Loaded;
  private asked = 0;
  /** The asks the current source serves: those made before its read of the file began. */
  private serves = 0;
  private loading: Promise<void> | undefined;

  /** `first`: the store as the run read it, never closed here; `reload`: a newer read, undefined when the file is unchanged. */
  constructor(
    private readonly first: RecordSource,
    private readonly reload: () => Promise<RecordSource | undefined>,
    private readonly everyRead: boolean,
  ) {
    this.current = { source: first, users: 0, superseded: false };
  }

  async recordsOf(keys: readonly string[]): Promise<CanonicalRecord[]> {
    if (this.everyRead || this.serves === 0) {
      const ask = ++this.asked;
      while (this.serves < ask) {
        this.loading ??= this.load().finally(() => (this.loading = undefined));
        await this.loading;
      }
    }
    const used = this.current;
    used.users++;
    try {
      return await used.source.recordsOf(keys);
    } finally {
      used.users--;
      if (used.superseded && used.users === 0) await this.drop(used);
    }
  }

  async close(): Promise<void> {
    await this.loading?.catch(() => undefined);
    await this.drop(this.current);
  }

  private async load(): Promise<void> {
    const covers = this.asked;
    const fresh = await this.reload();
    if (fresh) {
      const old = this.current;
      this.current = { source: fresh, users: 0, superseded: false };
      old.superseded = true;
      if (old.users === 0) await this.drop(old);
    }
    this.serves = covers;
  }

  private async drop(l: Loaded): Promise<void> {
    if (l.source !== this.first) await l.source.close();
  }
}
