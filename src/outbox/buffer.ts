/**
 * The bounded in-memory queue that holds intents while the state store is down, oldest first, bounded in count and
 * in bytes (an item's as `bytesOf` counts them). What does not fit is refused and counted; the caller logs it with its key.
 */
import { NameCounts } from '../util/name-counts.js';

export class OutageBuffer<T> {
  private items: T[] = [];
  private head = 0;
  overflowed = 0;
  /** What the items held weigh, by `bytesOf`. */
  bytes = 0;
  /** How many items held carry each of the names `namesOf` gives them. */
  private readonly named = new NameCounts();

  constructor(
    readonly max: number,
    readonly maxBytes = Infinity,
    private readonly bytesOf: (item: T) => number = () => 0,
    /** Names an item is asked about by (holds), rather than by a scan of the queue. */
    private readonly namesOf: (item: T) => readonly string[] = () => [],
  ) {}

  /** Whether an item held carries the name. */
  holds(name: string): boolean {
    return this.named.has(name);
  }

  get size(): number {
    return this.items.length - this.head;
  }

  /** False (and counted) when full. */
  push(item: T): boolean {
    const bytes = this.bytesOf(item);
    if (this.size >= this.max || this.bytes + bytes > this.maxBytes) {
      this.overflowed++;
      return false;
    }
    this.items.push(item);
    this.bytes += bytes;
    this.named.add(this.namesOf(item), 1);
    return true;
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  /** The oldest `n` (or fewer), left in place until shiftMany. */
  peekMany(n: number): T[] {
    return this.items.slice(this.head, this.head + Math.min(n, this.size));
  }

  shiftMany(n: number): void {
    const k = Math.min(n, this.size);
    for (let i = this.head; i < this.head + k; i++) {
      this.bytes -= this.bytesOf(this.items[i]!);
      this.named.add(this.namesOf(this.items[i]!), -1);
    }
    this.items.fill(undefined as T, this.head, this.head + k);
    this.head += k;
    // Compact now and then instead of an O(n) Array.shift per item.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
