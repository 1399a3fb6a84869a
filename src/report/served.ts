/** The report's reading of the served tallies (src/store/served.ts): every request a service answered, by outcome. */
import { SERVED } from '../store/served.js';
import type { TallyRow } from '../store/tallies.js';

export interface Served {
  /** Every request answered for the service, whatever the stage: reads and writes, compared or not. */
  requests: number;
  /** Answered with the primary's reply. */
  ok: number;
  /** Refused before any backend saw it (malformed, oversized, no action). */
  badRequest: number;
  /** The primary failed, timed out or was out of reach: the agent got memshift's error reply. */
  backendError: number;
  backendErrorRate: number;
}

export function servedOf(rows: readonly TallyRow[], service: string): Served {
  const by: Record<string, number> = {};
  for (const r of rows) {
    if (r.service !== service || !r.tally.startsWith(SERVED)) continue;
    const outcome = r.tally.slice(SERVED.length);
    by[outcome] = (by[outcome] ?? 0) + r.count;
  }
  const [ok, badRequest, backendError] = [by.ok ?? 0, by.bad_request ?? 0, by.backend_error ?? 0];
  const requests = ok + badRequest + backendError;
  return { requests, ok, badRequest, backendError, backendErrorRate: requests ? backendError / requests : 0 };
}
