/** What happens after a failed secondary write: retried later (exponential backoff with jitter) or parked. */
import { WriteRefused } from '../plan/secondary.js';
import { LegError } from '../legs/types.js';
import { OrchestratorError, Untranslatable } from '../services/types.js';

export interface RetryPolicy {
  baseBackoffMs: number;
  maxBackoffMs: number;
  maxAttempts: number;
  maxAgeMs: number;
}

export interface RetryDecision {
  park: boolean;
  delayMs: number;
  error: string;
}

/** Orchestrator answers that say the request itself is wrong: the same request will fail again. */
const PERMANENT_CODES = new Set(['invalid_request', 'validation_error', 'permission_denied']);

/** Failures a replay cannot fix. A side that refused (WriteRefused) answered deliberately; an untranslatable write can never be stored. */
function isPermanent(err: unknown): boolean {
  return (
    err instanceof WriteRefused ||
    err instanceof UnreplayableWrite ||
    err instanceof Untranslatable ||
    (err instanceof OrchestratorError && PERMANENT_CODES.has(err.code))
  );
}

/** A stored write that cannot be turned back into a request (bad bytes, unknown service here). */
export class UnreplayableWrite extends Error {}

/** Delay before attempt `attempts + 1`: doubling from base up to max, then jittered into [d/2, d). */
export function backoffMs(attempts: number, p: Pick<RetryPolicy, 'baseBackoffMs' | 'maxBackoffMs'>, random = Math.random): number {
  const d = Math.min(p.maxBackoffMs, p.baseBackoffMs * 2 ** Math.max(0, Math.min(attempts - 1, 30)));
  // Jitter spreads the retries of writes that failed together (one outage) so they do not return in one burst.
  return Math.round(d / 2 + random() * (d / 2));
}

export function decide(row: { attempts: number; createdAt: Date }, err: unknown, p: RetryPolicy, now = Date.now()): RetryDecision {
  const error = describe(err);
  if (isPermanent(err)) return { park: true, delayMs: 0, error };
  if (row.attempts >= p.maxAttempts) return { park: true, delayMs: 0, error: `${error} (gave up after ${row.attempts} attempts)` };
  if (now - row.createdAt.getTime() >= p.maxAgeMs) return { park: true, delayMs: 0, error: `${error} (gave up: older than ${p.maxAgeMs} ms)` };
  return { park: false, delayMs: backoffMs(row.attempts, p), error };
}

export function describe(err: unknown): string {
  if (err instanceof LegError) return `${err.failure}: ${err.message}`;
  if (err instanceof OrchestratorError) return `orchestrator ${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
