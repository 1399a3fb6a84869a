/**
 * Reads whose reply is too large to compare (shadow.maxCompareBytes): comparing one holds this replica's event loop,
 * so every agent's request, for as long as it takes (a jarvis user's every memory: megabytes, a quarter of a second).
 * Such a read is not compared, and its key and action are not shadowed for a while, so its shadow read costs nothing.
 */
import type { Route } from '../routes/route.js';

/** How long a key and action found too large are not shadowed: replies grow with history, rarely shrink. */
const REMEMBER_MS = 10 * 60_000;
/** Keys remembered at most (the oldest forgotten first): a bound on memory whatever the number of heavy users. */
const MAX_KEYS = 10_000;

export class LargeReplies {
  /** When each remembered key and action may be shadowed again. */
  private readonly until = new Map<string, number>();

  constructor(
    /** More than this is too large (positive: without a bound the runner has no LargeReplies). */
    private readonly maxBytes: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether the route's key and action were found too large lately: no shadow read for it. */
  known(route: Route): boolean {
    if (!this.until.size) return false;
    const k = keyOf(route);
    const until = this.until.get(k);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.until.delete(k);
    return false;
  }

  /** Whether a reply of `bytes` to the route is too large to compare; one that is, its key and action are remembered. */
  tooLargeToCompare(route: Route, bytes: number): boolean {
    if (bytes <= this.maxBytes) return false;
    this.note(route);
    return true;
  }

  private note(route: Route): void {
    const k = keyOf(route);
    this.until.delete(k);
    this.until.set(k, this.now() + REMEMBER_MS);
    if (this.until.size > MAX_KEYS) this.until.delete(this.until.keys().next().value!);
  }
}

const keyOf = (route: Route): string => `${route.service}\u0000${route.action}\u0000${route.key ?? ''}`;
