/** What a primary call that failed did, as far as can be known: refused, or unknown (and then what its late reply says). */
import { isUnknownOutcome, LegError } from '../legs/types.js';
import type { SuccessRule } from '../services/service.js';
import type { Side } from './plan.js';
import { lateAnswer, type PrimaryOutcome } from './secondary.js';

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
