/**
 * Tracks writes in flight per key (session / user). Two uses: a read is not served from the new side
 * while a write to its key is still pending there (no stale read after an acknowledged write), and a
 * shadow comparison is dropped when a write to its key overlapped it (a known source of false mismatches).
 */
export class KeyActivity {
  private readonly pending = new Map<string, number>();
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
