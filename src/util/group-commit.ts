/**
 * Group commit: items handed in while a batch is being stored wait and go together in the next one, so
 * concurrent writers share a round trip and a WAL flush instead of queueing for one each. Nothing waits
 * when a lane is free (a lone item is stored at once) unless the owner asks batches to linger: work off
 * anyone's path trades a few milliseconds for fewer statements, each of which costs both processes a round trip.
 */
type Waiter<T> = { item: T; resolve(): void; reject(err: unknown): void };

export class GroupCommit<T> {
  private queue: Waiter<T>[] = [];
  private busy = 0;
  private lingering: NodeJS.Timeout | undefined;

  constructor(
    /** Stores a batch; per item, undefined when stored or the error that kept it out. Rejects when none was stored. */
    private readonly store: (items: T[]) => Promise<readonly unknown[]>,
    /** Batches stored at once (connections given to this). */
    private readonly lanes: number,
    private readonly maxBatch: number,
    /** How long a batch short of maxBatch waits for more items before it is stored. */
    private readonly lingerMs = 0,
  ) {}

  add(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.next();
    });
  }

  private next(): void {
    // A full batch goes at once; a short one lingers (when asked to) for more.
    if (this.lingerMs && this.queue.length < this.maxBatch) {
      this.lingering ??= this.queue.length
        ? setTimeout(() => {
            this.lingering = undefined;
            this.dispatch();
          }, this.lingerMs)
        : undefined;
      return;
    }
    clearTimeout(this.lingering);
    this.lingering = undefined;
    this.dispatch();
  }

  private dispatch(): void {
    while (this.busy < this.lanes && this.queue.length) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.busy++;
      this.store(batch.map((w) => w.item))
        .then(
          (errors) => batch.forEach((w, i) => (errors[i] === undefined ? w.resolve() : w.reject(errors[i]))),
          (err: unknown) => batch.forEach((w) => w.reject(err)),
        )
        .finally(() => {
          this.busy--;
          this.next();
        });
    }
  }
}
