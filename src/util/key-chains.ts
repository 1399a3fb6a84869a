/** Work run one after another per key, concurrently across keys: how memshift keeps a key's requests in order. */
export class KeyChains {
  private readonly chains = new Map<string, Promise<unknown>>();

  /** `work` may `hold` the key past its own end: the key's next work waits for what it holds too (never for its failure). */
  run<T>(key: string, work: (hold: (until: Promise<unknown>) => void) => Promise<T>): Promise<T> {
    const held: Promise<unknown>[] = [];
    const next = (this.chains.get(key) ?? Promise.resolve()).then(() => work((until) => held.push(until)));
    // Nothing held (the common case): no promise more on the key's chain.
    const settled = () => (held.length ? Promise.allSettled(held) : undefined);
    const tail = next.then(settled, settled);
    this.chains.set(key, tail);
    void tail.then(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key);
    });
    return next;
  }

  get size(): number {
    return this.chains.size;
  }

  async idle(): Promise<void> {
    while (this.chains.size) await Promise.all(this.chains.values());
  }
}
