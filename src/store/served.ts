/** Requests answered per service, action and outcome, counted per request and written as tallies (`served.<outcome>`). */
import type { Tallies } from './tallies.js';

interface Count {
  service: string;
  action: string;
  outcome: string;
  n: number;
}

/**
 * The comparison counts see only the reads a stage compares; the report also wants every request the service
 * answered, and how many failed. Counted here by one map lookup a request (Tallies.add cleans and keys each
 * call), and moved into the tallies at each flush, in the minute of that flush.
 */
export class ServedCounts {
  private counts = new Map<string, Count>();

  count(service: string, action: string, outcome: string): void {
    const key = `${service}|${action}|${outcome}`;
    const had = this.counts.get(key);
    if (had) had.n++;
    else this.counts.set(key, { service, action, outcome, n: 1 });
  }

  drainInto(tallies: Tallies): void {
    const counts = this.counts;
    this.counts = new Map();
    for (const c of counts.values()) tallies.add(c.service, c.action, `${SERVED}${c.outcome}`, c.n);
  }
}

export const SERVED = 'served.';
