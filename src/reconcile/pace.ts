/** Pacing shared by the reconciler and the backfill: an average-rate limiter and bounded concurrency. */
import { setTimeout as sleep } from 'node:timers/promises';

/** Holds work to `perSecond` units on average; 0 or less: unlimited. */
export class RateLimiter {
  private next = 0;

  constructor(private readonly perSecond: number) {}

  /** Accounts for `units` just done (or about to be), waiting as long as the rate asks. */
  async take(units: number): Promise<void> {
    if (!(this.perSecond > 0) || units <= 0) return;
    const now = performance.now();
    this.next = Math.max(this.next, now) + (units * 1000) / this.perSecond;
    const wait = this.next - now;
    if (wait >= 1) await sleep(wait);
  }
}

/** fn over items with at most `limit` running at once; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
