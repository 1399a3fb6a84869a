/** Work run one after another per key, concurrently across keys: how memshift keeps a key's requests in order. */
export class KeyChains {
  private readonly chains = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const next = (this.chains.get(key) ?? Promise.resolve()).then(work);
    const tail = next.catch(() => undefined);
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
