/** What a primary call that failed did, as far as can be known: refused, or unknown (what its late reply says, and until when it may land). */
import { isUnknownOutcome, LegError } from '../legs/types.js';
import type { SuccessRule } from '../services/service.js';
import type { Side } from './plan.js';
import { lateAnswer, type PrimaryOutcome } from './secondary.js';
import { LateTranslation } from './sides.js';
import { withDeadline } from '../util/deadline.js';

/**
 * A primary call that failed (`on`: the connection it went out on): refused, or never sent; else its outcome unknown.
 * A legacy side's late reply then tells (a write the agent saw time out, answered once its service woke); the new
 * side's calls are a translation's, whose late replies are not the write's, and its writes can be looked up.
 */
export function failedOutcome(err: unknown, side: Side, on: number | undefined, read: boolean, rules: SuccessRule[]): PrimaryOutcome {
  if (!isUnknownOutcome(err)) return 'refused';
  const late = side === 'legacy' && err instanceof LegError ? err.late : undefined;
  return late ? { unknownOn: on, late: lateAnswer(late, read, rules) } : { unknownOn: on };
}

/**
 * Until when a primary call whose outcome is unknown may still be applied: its late reply (or its connection's requests
 * worked off), at most `boundMs` from now; a translation's end, and then its last call's late reply within that bound.
 * Undefined where nothing is on its way. A key's next write waits for it: sent through another replica (a connection of
 * its own, which the backend takes in turn with the others) or on a new connection, it could be applied first (chaos
 * seed 832: an add_memory queued at a hung orchestrator, the agent's clear_memories made through another replica
 * applied ahead of it there, and copied to legacy after it). A backend hung past the bound still allows that (README).
 */
export function stillLanding(err: unknown, boundMs: number): Promise<unknown> | undefined {
  if (!isUnknownOutcome(err) || !(err instanceof LegError)) return undefined;
  if (err instanceof LateTranslation) return Promise.all([err.settled, within(err.lastLate, boundMs)]);
  return err.late && within(err.late, boundMs);
}

/** Settles when `p` does, or after `ms` of this process's running time. */
const within = (p: Promise<unknown>, ms: number): Promise<void> =>
  withDeadline(p, ms, () => new Error('still unanswered')).then(
    () => undefined,
    () => undefined,
  );
