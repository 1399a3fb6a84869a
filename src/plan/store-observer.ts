/** Writes what the runner observes into the state store: comparison counts and tallies, mismatch samples, unknown outcomes. */
import type { Store } from '../store/index.js';
import type { Result } from '../comparison/result.js';
import type { ExecutionObserver } from './observer.js';

export function storeObserver(store: Store): Partial<ExecutionObserver> {
  return {
    compared(e: Result) {
      const { control: legacy, candidate: fresh } = e;
      const { service, action } = e.route;
      store.comparisons.record({
        service,
        action,
        outcome: e.recheck && (e.outcome === 'match' || e.outcome === 'mismatch') ? `recheck_${e.outcome}` : e.outcome,
        ...(e.recheck ? { count: e.recheck } : {}),
        ...(legacy ? { legacyMs: legacy.latencyMs } : {}),
        ...(fresh ? { newMs: fresh.latencyMs } : {}),
      });
      // Once per comparison: a kind (or a noisy field) counts the comparisons it showed in.
      for (const kind of new Set((e.diffs ?? []).map((d) => d.kind))) store.tallies.add(service, action, `kind.${kind}`);
      if (e.offsetS !== undefined) store.tallies.add(service, action, `offset.${e.offsetS}`);
      for (const field of new Set((e.noise ?? []).map((d) => d.field))) store.tallies.add(service, action, `noise.${field}`);
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
    recheckGivenUp: (e) => store.tallies.add(e.route.service, e.route.action, `recheck.given_up.${e.why}`, e.covered),
    baselined: (e) => {
      store.tallies.add(e.route.service, e.route.action, 'aa.reads');
      for (const field of e.fields) store.tallies.add(e.route.service, e.route.action, `aa.diff.${field}`);
    },
    tooLarge: (e) => store.tallies.add(e.route.service, e.route.action, 'uncompared.too_large'),
    unknownOutcome: (e) => store.unknowns.seen(e),
    unknownResolved: (e) => store.unknowns.resolved(e),
  };
}
