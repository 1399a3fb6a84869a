/** One session's memories kept in created_at order as they are written, so batch_read in that order walks instead of sorting. */
import type { StoredMemory } from './orchestrator-query.js';

interface Entry {
  at: number;
  m: StoredMemory;
}

/** Equal times by id, as sortMemories orders them: PostgreSQL would give ties in no set order either way. */
const before = (a: Entry, b: Entry): boolean => a.at < b.at || (a.at === b.at && a.m.memory_id < b.m.memory_id);

export class CreatedOrder {
  private readonly entries: Entry[] = [];

  /** A memory new to the session (most often the newest: a look at the end, then a binary search). */
  add(m: StoredMemory): void {
    const e = { at: Date.parse(m.created_at), m };
    let lo = 0;
    let hi = this.entries.length;
    if (hi && before(this.entries[hi - 1]!, e)) lo = hi;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (before(this.entries[mid]!, e)) lo = mid + 1;
      else hi = mid;
    }
    this.entries.splice(lo, 0, e);
  }

  /** The same memory stored again (a reload): its place is unchanged, since created_at never changes. */
  replace(old: StoredMemory, m: StoredMemory): void {
    const e = this.entries.find((x) => x.m === old);
    if (e) e.m = m;
  }

  /**
   * The page [offset, offset + limit) of those `keep` accepts, in the order asked, and how many it accepts in
   * all (batch_read's total_count: counted as a count(*) would, without sorting or copying).
   */
  page(desc: boolean, offset: number, limit: number, keep: (m: StoredMemory) => boolean): { page: StoredMemory[]; total: number } {
    const page: StoredMemory[] = [];
    let total = 0;
    const n = this.entries.length;
    for (let k = 0; k < n; k++) {
      const m = this.entries[desc ? n - 1 - k : k]!.m;
      if (!keep(m)) continue;
      if (total >= offset && page.length < limit) page.push(m);
      total++;
    }
    return { page, total };
  }
}
