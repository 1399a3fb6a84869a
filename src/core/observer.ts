/** What the executor reports about the work it does off the agent's path; stores and metrics listen. */
import type { FieldDiff } from './compare.js';
import type { Side } from './plan.js';
import type { Route } from './route.js';
import type { SideReply } from './sides.js';

export type CompareOutcome = 'match' | 'mismatch' | 'legacy_error' | 'new_error' | 'skipped';

export interface ComparedEvent {
  route: Route;
  outcome: CompareOutcome;
  primary: SideReply;
  shadow?: SideReply;
  diffs?: FieldDiff[];
  error?: unknown;
}

export interface SecondaryEvent {
  route: Route;
  side: Side;
  ok: boolean;
  latencyMs: number;
  error?: unknown;
}

export interface ServedEvent {
  route: Route;
  /** The side whose reply the agent got. */
  side: Side;
  ok: boolean;
  latencyMs: number;
}

export interface ExecutionObserver {
  /** Every request that reached a backend, once, when the agent's reply is ready. */
  served(e: ServedEvent): void;
  compared(e: ComparedEvent): void;
  secondaryWritten(e: SecondaryEvent): void;
  /** A read meant for the new side was served from legacy because new failed. */
  fallback(route: Route, error: unknown): void;
  /** A read meant for the new side was served from legacy because a write to its key was pending there. */
  staleReadAvoided(route: Route): void;
}

/** One observer that forwards to several; one failing listener never disturbs the others or the request. */
export function fanOut(observers: Partial<ExecutionObserver>[]): ExecutionObserver {
  // Only the listeners of each event, found once: `served` runs for every request.
  const each = <E>(pick: (o: Partial<ExecutionObserver>) => ((e: E, extra?: unknown) => void) | undefined) => {
    const listeners = observers.flatMap((o) => {
      const f = pick(o);
      return f ? [f.bind(o)] : [];
    });
    return (e: E, extra?: unknown): void => {
      for (const listener of listeners) {
        try {
          listener(e, extra);
        } catch {
          // Observers are bookkeeping; the request has been answered already.
        }
      }
    };
  };
  return {
    served: each((o) => o.served),
    compared: each((o) => o.compared),
    secondaryWritten: each((o) => o.secondaryWritten),
    fallback: each((o) => o.fallback),
    staleReadAvoided: each((o) => o.staleReadAvoided),
  };
}
