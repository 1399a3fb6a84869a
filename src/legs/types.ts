/** What every leg (one call to one backend) promises, whatever its transport. */

export type LegFailure =
  /** No reply within the call's timeout. */
  | 'timeout'
  /** No connection to the backend (refused, down, not yet connected): the request was not sent. */
  | 'unavailable'
  /** The connection broke after the request was sent: the backend may still have applied it. */
  | 'disconnected'
  /** The leg's bound of unanswered calls is reached (a hung backend): the request was not sent. */
  | 'saturated'
  /** The breaker is open: the call was not attempted. */
  | 'circuit_open'
  /** The backend answered something that is not a reply (HTTP 5xx, bad framing). */
  | 'protocol'
  /** The leg was closed. */
  | 'closed'
  /** A translated write failed after one of its calls changed the new side: part of it may stand. */
  | 'partial';

/**
 * Whether a failed call may still have been applied: it was sent and no answer came (a timeout is not a
 * failure: a hung backend works through its queue when it wakes), or the leg was closed under it.
 */
const UNKNOWN_OUTCOME: ReadonlySet<LegFailure> = new Set<LegFailure>(['timeout', 'disconnected', 'closed', 'partial']);
export const isUnknownOutcome = (err: unknown): boolean => err instanceof LegError && UNKNOWN_OUTCOME.has(err.failure);

/** Failures that say the call never left (nothing is unknown): no connection, the breaker open, the leg's queue full. */
const NOT_SENT: ReadonlySet<LegFailure> = new Set<LegFailure>(['saturated', 'circuit_open', 'unavailable']);
export const isNotSent = (err: unknown): boolean => err instanceof LegError && NOT_SENT.has(err.failure);

export class LegError extends Error {
  constructor(
    readonly failure: LegFailure,
    message: string,
    readonly endpoint: string,
    /**
     * A call sent and unanswered (timed out, or its connection ended) as the backend ends it, where known: resolves with
     * its late reply, or with none once the backend worked off what its ended connection held (see LegOptions.probe).
     */
    readonly late?: Promise<Buffer | undefined>,
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
  /** Sent and unanswered, timed-out calls included. */
  inFlight: number;
  lastLatencyMs: number | null;
  lastFailure: LegFailure | null;
  lastFailureAt: number | null;
  /** When a call was last answered: after lastFailureAt, the backend answers again. */
  lastSuccessAt: number | null;
}

export interface LegOptions {
  /** Default per-call timeout. */
  timeoutMs: number;
  /**
   * Calls sent and not yet answered, those that timed out included (a hung backend still holds them),
   * beyond which the leg refuses to send more ('saturated'). Default unbounded.
   */
  maxInFlight?: number;
  breaker: { failureThreshold: number; openMs: number };
  /**
   * While the backend is not connected (not yet, or not again), hold a call up to its timeout for the
   * connection, as a direct REQ client would, instead of failing it at once (ZeroMQ legs). A call that never
   * got sent fails 'unavailable': its outcome is known.
   */
  waitForConnection?: boolean;
  /**
   * A connection whose peer answers none of the ZeroMQ heartbeats (a ping a second) for this long is given up and
   * dialed again (ZeroMQ legs): its host lost, or a network cut left it stale, nothing closes it, and TCP would go on
   * retransmitting into it for a quarter of an hour. Default 5000.
   */
  heartbeatTimeoutMs?: number;
  /**
   * A request the backend answers without effect (its health check), sent on a new connection while calls of one that
   * ended unanswered may still be applied: their answers tell when they were (ZeroMQ legs; LegError.late).
   */
  probe?: string;
  /** Called once per call with its latency and outcome (metrics hook). */
  onOutcome?: (outcome: LegOutcome) => void;
}

export interface Leg {
  readonly endpoint: string;
  /** A call's timeout when it names none (LegOptions.timeoutMs). */
  readonly timeoutMs: number;
  /** Sends one request frame and resolves with the backend's reply frame, bytes untouched; rejects with LegError. */
  call(payload: Buffer | string, opts?: { timeoutMs?: number }): Promise<Buffer>;
  /**
   * The current connection's number, or undefined when the transport keeps no order (HTTP). A backend
   * answers one connection's requests in order, so a call answered on the connection that carried an
   * earlier request is answered after that request was applied (or dropped for good).
   */
  connection(): number | undefined;
  stats(): LegStats;
  close(): Promise<void>;
}
