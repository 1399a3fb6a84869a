/** What every leg (one call to one backend) promises, whatever its transport. */

export type LegFailure =
  /** No reply within the call's timeout. */
  | 'timeout'
  /** No connection to the backend (refused, down, not yet connected). */
  | 'unavailable'
  /** The breaker is open: the call was not attempted. */
  | 'circuit_open'
  /** The backend answered something that is not a reply (HTTP 5xx, bad framing). */
  | 'protocol'
  /** The leg was closed. */
  | 'closed';

export class LegError extends Error {
  constructor(
    readonly failure: LegFailure,
    message: string,
    readonly endpoint: string,
  ) {
    super(message);
    this.name = 'LegError';
  }
}

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface LegOutcome {
  endpoint: string;
  ok: boolean;
  failure?: LegFailure;
  latencyMs: number;
}

export interface LegStats {
  endpoint: string;
  breaker: BreakerState;
  ok: number;
  failed: number;
  inFlight: number;
  lastLatencyMs: number | null;
  lastFailure: LegFailure | null;
  lastFailureAt: number | null;
}

export interface LegOptions {
  /** Default per-call timeout. */
  timeoutMs: number;
  breaker: { failureThreshold: number; openMs: number };
  /** Called once per call with its latency and outcome (metrics hook). */
  onOutcome?: (outcome: LegOutcome) => void;
}

export interface Leg {
  readonly endpoint: string;
  /** Sends one request frame and resolves with the backend's reply frame, bytes untouched; rejects with LegError. */
  call(payload: Buffer | string, opts?: { timeoutMs?: number }): Promise<Buffer>;
  stats(): LegStats;
  close(): Promise<void>;
}
