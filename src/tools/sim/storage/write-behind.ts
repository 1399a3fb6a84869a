/**
 * Debounced persistence: changes are acknowledged at memory speed and written at most once per delay,
 * one save at a time; flush() writes what is pending now.
 */
export class WriteBehind {
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly save: () => Promise<void>,
    private readonly delayMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  schedule(): void {
    this.dirty = true;
    this.timer ??= setTimeout(() => void this.flush(), this.delayMs);
  }

  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.running = this.running.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      try {
        await this.save();
      } catch (err) {
        this.onError(err);
      }
    });
    return this.running;
  }
}
