/** One session's memories (or one memory_type's of it) kept in created_at order as they are written: batch_read walks, slices or counts instead of sorting. */
import type { StoredMemory } from './orchestrator-query.js';

interface Entry {
  at: number;
  m: StoredMemory;
}

/** Equal times by id, as sortMemories orders them: PostgreSQL would give ties in no set order either way. */
const before = (a: Entry, b: Entry): boolean => a.at < b.at || (a.at === b.at && a.m.memory_id < b.m.memory_id);

/** Whether a memory can never stop being live: active, with no expiry. */
const liveForGood = (m: StoredMemory): boolean => m.is_active && m.expires_at === null;

export class CreatedOrder {
  private readonly entries: Entry[] = [];
  /**
   * Every memory here live for good: then every one matches a filter on liveness alone, so a page is a slice and
   * its total the size (an index's count, not a walk of the session). Once one is deleted or given an expiry, pages walk.
   */
  private allLive = true;

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
    this.changed(m);
  }

  /** The same memory stored again (a reload): its place is unchanged, since created_at never changes. */
  replace(old: StoredMemory, m: StoredMemory): void {
    const e = this.entries.find((x) => x.m === old);
    if (e) e.m = m;
    this.changed(m);
  }

  /** A memory here was changed in place (deleted, given an expiry): what a page may skip. */
  changed(m: StoredMemory): void {
    if (!liveForGood(m)) this.allLive = false;
  }

  /**
   * The page [offset, offset + limit) of the live memories `keep` accepts (all live ones when it is undefined), in
   * the order asked, and how many it accepts in all (batch_read's total_count, counted as a count(*) would).
   */
  page(
    desc: boolean,
    offset: number,
    limit: number,
    live: (m: StoredMemory) => boolean,
    keep: ((m: StoredMemory) => boolean) | undefined,
  ): { page: StoredMemory[]; total: number } {
    const page: StoredMemory[] = [];
    const n = this.entries.length;
    const at = (k: number) => this.entries[desc ? n - 1 - k : k]!.m;
    if (!keep && this.allLive) {
      for (let k = offset; k < Math.min(n, offset + limit); k++) page.push(at(k));
      return { page, total: n };
    }
    let total = 0;
    for (let k = 0; k < n; k++) {
      const m = at(k);
      if (!live(m) || (keep && !keep(m))) continue;
      if (total >= offset && page.length < limit) page.push(m);
      total++;
    }
    return { page, total };
  }
}
