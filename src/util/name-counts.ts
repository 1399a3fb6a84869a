/** How many items carry each name (a side, a key): asked by name rather than by a scan of the items. */
export class NameCounts {
  private readonly counts = new Map<string, number>();

  has(name: string): boolean {
    return this.counts.has(name);
  }

  add(names: readonly string[], by: 1 | -1): void {
    for (const name of names) {
      const n = (this.counts.get(name) ?? 0) + by;
      if (n > 0) this.counts.set(name, n);
      else this.counts.delete(name);
    }
  }
}
