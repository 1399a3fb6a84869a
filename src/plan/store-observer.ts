/** Writes what the runner observes into the state store: comparison counts, mismatch samples, unknown outcomes. */
import type { Store } from '../store/index.js';
import type { Result } from '../comparison/result.js';
import type { ExecutionObserver } from './observer.js';

export function storeObserver(store: Store): Partial<ExecutionObserver> {
  return {
    compared(e: Result) {
      const { control: legacy, candidate: fresh } = e;
      store.comparisons.record({
        service: e.route.service,
        action: e.route.action,
        outcome: e.outcome,
        ...(legacy ? { legacyMs: legacy.latencyMs } : {}),
        ...(fresh ? { newMs: fresh.latencyMs } : {}),
      });
      if (e.outcome === 'mismatch' && legacy && fresh) {
        store.samples.add({
          service: e.route.service,
          action: e.route.action,
          request: e.route.request,
          legacyReply: legacy.value,
          newReply: fresh.value,
          diff: e.diffs ?? [],
        });
      }
    },
    unknownOutcome: (e) => store.unknowns.seen(e),
    unknownResolved: (e) => store.unknowns.resolved(e),
  };
}
