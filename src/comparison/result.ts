/**
 * The result of one shadowed read, as GitHub's Scientist names it: the control (legacy's reply) and the
 * candidate (the new side's), observed on the same request, and how they compared.
 */
import type { Route } from '../routes/route.js';
import type { FieldDiff } from './compare.js';
import type { Observation, Side } from './observation.js';

export type ResultKind = 'match' | 'mismatch' | 'legacy_error' | 'new_error' | 'skipped';

export interface Result {
  route: Route;
  /** match / mismatch; a side that failed; or skipped (a write to the key landed between the two reads). */
  outcome: ResultKind;
  /** The side whose reply the agent got (the other one was the shadow). */
  primary: Side;
  /** Legacy's observation; absent when it failed. */
  control?: Observation;
  /** The new side's observation; absent when it failed. */
  candidate?: Observation;
  /** Mismatches only: the differing fields (bounded by the route's rules). */
  diffs?: FieldDiff[];
  /** Mismatches only: the one offset all its time differences stood apart (new minus legacy, seconds; offset.ts), if any. */
  offsetS?: number | undefined;
  /** Compared reads: values the route's rules left out (timestamps, request ids). */
  ignored?: number;
  /** Compared reads: differences on fields the A/A noise baseline explains, not counted as mismatches. */
  noise?: FieldDiff[];
  /** A deferred re-check (src/plan/rechecks.ts): how many reads skipped for a write in flight it stands for. */
  recheck?: number;
  /** The failed side's error. */
  error?: unknown;
}
