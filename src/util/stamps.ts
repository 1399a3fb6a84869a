/**
 * The legacy times memshift writes into the records it creates: microseconds, strictly increasing in this process,
 * so that a key's records, written one after another, stay in order wherever the orchestrator's created_at ties.
 */
let last = 0;

/** Epoch microseconds for a record taken at `at` (now when absent), later than any given out before. */
export function stampMicros(at?: Date): number {
  const wanted = (at ?? new Date()).getTime() * 1000;
  last = Math.max(wanted, last + 1);
  return last;
}
