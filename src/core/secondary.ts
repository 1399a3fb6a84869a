/**
 * Secondary writes in per-key order, off the agent's path: each key has a chain, so a later write to
 * a session never overtakes an earlier one. Failures are reported; the durable outbox builds on this.
 */
import type { ExecutionObserver } from './observer.js';
import type { Side } from './plan.js';
import type { Route } from './route.js';
import type { SecondaryWrites } from './execute.js';
import type { SideReply } from './sides.js';

export class OrderedSecondaryWrites implements SecondaryWrites {
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly observer: ExecutionObserver) {}

  enqueue(route: Route, side: Side, write: () => Promise<SideReply>): void {
    const key = `${route.service}/${route.key ?? ''}`;
    const started = performance.now();
    const run = async () => {
      try {
        const reply = await write();
        this.observer.secondaryWritten({ route, side, ok: true, latencyMs: reply.latencyMs });
      } catch (error) {
        this.observer.secondaryWritten({ route, side, ok: false, latencyMs: performance.now() - started, error });
      }
    };
    const next = (this.chains.get(key) ?? Promise.resolve()).then(run);
    this.chains.set(key, next);
    void next.then(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
  }

  /** Resolves when every queued write has run (tests, shutdown). */
  async drain(): Promise<void> {
    while (this.chains.size) await Promise.all(this.chains.values());
  }
}
