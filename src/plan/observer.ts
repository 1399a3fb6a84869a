/** What the runner reports about the work it does off the agent's path; stores and metrics listen. */
import type { ServiceName } from '../services/registry.js';
import type { Side } from './plan.js';
import type { Route } from '../routes/route.js';
import type { Result } from '../comparison/result.js';
import type { GiveUp } from './rechecks.js';

export interface WrittenEvent {
  route: Route;
  side: Side;
  ok: boolean;
  latencyMs: number;
  error?: unknown;
}

/** A write whose outcome on `side` was not known (no reply in time, or the connection broke after the send). */
export interface UnknownOutcomeEvent {
  service: ServiceName;
  action: string;
  side: Side;
  /** Whether the side was the write's primary (the agent's side) or its secondary. */
  role: 'primary' | 'secondary';
}

/** How an unknown outcome was settled by a look-up on that side. */
export interface ResolvedEvent extends UnknownOutcomeEvent {
  applied: boolean;
  /**
   * Taken as applied with nothing to tell: a write taken over (its replica killed, or its hold lost with the store)
   * before its primary's answer was recorded, where no read shows it there (contextual-memory). The sides may differ by it.
   */
  assumed?: boolean;
  /** From the unknown outcome to the look-up's answer. */
  resolveMs: number;
}

export interface ServedEvent {
  route: Route;
  /** The side whose reply the agent got. */
  side: Side;
  ok: boolean;
  latencyMs: number;
}

export interface SideSkippedEvent {
  route: Route;
  /** The side that misses the write, applied or not. */
  side: Side;
}

/** Reads skipped for a write in flight whose re-check was given up: never compared. */
export interface RecheckGivenUpEvent {
  route: Route;
  covered: number;
  why: GiveUp;
}

/** A shadowed read not compared: legacy's reply was larger than shadow.maxCompareBytes (src/plan/large-replies.ts). */
export interface TooLargeEvent {
  route: Route;
  bytes: number;
}

/** An A/A pair (legacy read twice for one request): the fields that differed between the two reads. */
export interface BaselinedEvent {
  route: Route;
  fields: string[];
}

export interface ExecutionObserver {
  /** Every request that reached a backend, once, when the agent's reply is ready. */
  served(e: ServedEvent): void;
  /** Each shadowed read's result. */
  compared(e: Result): void;
  secondaryWritten(e: WrittenEvent): void;
  /** A write of a migrating service sent to one side alone (legacy at complete, new under the kill switch or at off again). */
  sideSkipped(e: SideSkippedEvent): void;
  /** A read meant for the new side was served from legacy because new failed. */
  fallback(route: Route, error: unknown): void;
  /** A read served by `side`, not the side the flags name, because a write to its key was pending there (read-new, or after a turn). */
  staleReadAvoided(e: { route: Route; side: Side }): void;
  unknownOutcome(e: UnknownOutcomeEvent): void;
  unknownResolved(e: ResolvedEvent): void;
  recheckGivenUp(e: RecheckGivenUpEvent): void;
  baselined(e: BaselinedEvent): void;
  tooLarge(e: TooLargeEvent): void;
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
    sideSkipped: each((o) => o.sideSkipped),
    fallback: each((o) => o.fallback),
    staleReadAvoided: each((o) => o.staleReadAvoided),
    unknownOutcome: each((o) => o.unknownOutcome),
    unknownResolved: each((o) => o.unknownResolved),
    recheckGivenUp: each((o) => o.recheckGivenUp),
    baselined: each((o) => o.baselined),
    tooLarge: each((o) => o.tooLarge),
  };
}
