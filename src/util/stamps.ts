/**
 * The legacy times memshift writes into the records it creates: microseconds, strictly increasing per legacy key
 * in this process, so that a key's records, written one after another, stay in order wherever the orchestrator's
 * created_at ties. Per key, not per process: copies drained after an outage come key by key, and one key's newer
 * write must not push another key's older writes to its time.
 */
const last = new Map<string, number>();
/** Keys remembered: one not stamped while this many others were is written long after its last stamp anyway. */
const MAX_KEYS = 100_000;

/** Epoch microseconds for a record of `scope` (a service's legacy key) taken at `at` (now when absent), later than any given out for it before. */
export function stampMicros(scope: string, at?: Date): number {
  const wanted = (at ?? new Date()).getTime() * 1000;
  const prev = last.get(scope);
  const stamp = prev === undefined ? wanted : Math.max(wanted, prev + 1);
  // Re-inserted, so the map's order is least recently stamped first.
  last.delete(scope);
  last.set(scope, stamp);
  if (last.size > MAX_KEYS) last.delete(last.keys().next().value!);
  return stamp;
}
