/**
 * Tracks writes in flight per key (session / user). Two uses: a read is not served from the new side
 * while a write to its key is still pending there (no stale read after an acknowledged write), and a
 * shadow comparison is dropped when a write to its key overlapped it (a known source of false mismatches),
 * and re-checked once the key is idle again.
 */
export class KeyActivity {
  private readonly pending = new Map<string, number>();
  /** Called once when their key has no write in flight any more. */
  private readonly idle = new Map<string, (() => void)[]>();
  private readonly versions = new Map<string, number>();
  /** Bumped when `versions` is cleared to bound memory; tokens from an older generation never match. */
  private generation = 0;

  begin(key: string): void {
    this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
    this.bump(key);
  }

  end(key: string): void {
    const n = (this.pending.get(key) ?? 1) - 1;
    if (n <= 0) this.pending.delete(key);
    else this.pending.set(key, n);
    this.bump(key);
    const waiting = n <= 0 ? this.idle.get(key) : undefined;
    if (waiting) {
      this.idle.delete(key);
      // After the caller's own bookkeeping: a listener may begin another read of the key at once.
      queueMicrotask(() => waiting.forEach((f) => f()));
    }
  }

  /** Calls `f` once the key has no write in flight here (soon, when it has none now). */
  whenIdle(key: string, f: () => void): void {
    if (!this.busy(key)) {
      queueMicrotask(f);
      return;
    }
    const list = this.idle.get(key);
    if (list) list.push(f);
    else this.idle.set(key, [f]);
  }

  busy(key: string): boolean {
    return this.pending.has(key);
  }

  /** A token that `unchangedSince` checks: equal only if no write began or ended on the key meanwhile. */
  version(key: string): string {
    return `${this.generation}:${this.versions.get(key) ?? 0}`;
  }

  unchangedSince(key: string, version: string): boolean {
    return !this.busy(key) && this.version(key) === version;
  }

  private bump(key: string): void {
    if (this.versions.size >= 100_000 && !this.versions.has(key)) {
      this.versions.clear();
      this.generation++;
    }
    this.versions.set(key, (this.versions.get(key) ?? 0) + 1);
  }
}
