/** The transport-independent half of every leg: the wrappers around its transport's exchange, and its stats. */
import { Breaker } from './breaker.js';
import { LegError, type Leg, type LegFailure, type LegOptions, type LegStats } from './types.js';
import { asLegError, breakerWrapper, compose, refuseWhen, timed, type Call } from './wrappers.js';

/**
 * One request/reply exchange over some wire. It must reject with a LegError for wire failures, give
 * up with a 'timeout' LegError after `timeoutMs` (freeing the call's slot and dropping a late reply),
 * and fail every call still in flight with 'closed' on close().
 */
export interface Transport {
  exchange(payload: Buffer, timeoutMs: number): Promise<Buffer>;
  /** Sent and not answered, timed-out calls included until their late reply or the connection's end. */
  readonly inFlight: number;
  /** See Leg.connection. */
  connection(): number | undefined;
  /** Called on every new connection (transports that have connections). */
  onConnect?(listener: () => void): void;
  close(): Promise<void>;
}

export class TransportLeg implements Leg {
  private readonly breaker: Breaker;
  private readonly exchange: Call;
  private closed = false;
  private ok = 0;
  private failed = 0;
  private lastLatencyMs: number | null = null;
  private lastFailure: LegFailure | null = null;
  private lastFailureAt: number | null = null;

  constructor(
    readonly endpoint: string,
    private readonly opts: LegOptions,
    private readonly transport: Transport,
  ) {
    this.breaker = new Breaker(opts.breaker);
    // A backend that connects again is back: agents need not sit out the rest of the open period.
    transport.onConnect?.(() => this.breaker.reset());
    const maxInFlight = opts.maxInFlight ?? Number.POSITIVE_INFINITY;
    // Saturation before the breaker: a call refused for it must not take (and spend) the breaker's trial.
    this.exchange = compose(
      (payload, timeoutMs) => transport.exchange(payload, timeoutMs),
      timed((ms, failure) => this.report(ms, failure)),
      refuseWhen(() => (this.closed ? this.error('closed', 'leg is closed') : undefined)),
      refuseWhen(() => (transport.inFlight >= maxInFlight ? this.error('saturated', `${maxInFlight} calls unanswered: not sending more`) : undefined)),
      breakerWrapper(this.breaker, () => this.error('circuit_open', 'circuit breaker is open')),
      asLegError(endpoint),
    );
  }

  connection(): number | undefined {
    return this.transport.connection();
  }

  call(payload: Buffer | string, callOpts?: { timeoutMs?: number }): Promise<Buffer> {
    return this.exchange(typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload, callOpts?.timeoutMs ?? this.opts.timeoutMs);
  }

  private report(latencyMs: number, failure: LegFailure | undefined): void {
    this.lastLatencyMs = latencyMs;
    if (failure === undefined) this.ok++;
    else {
      this.failed++;
      this.lastFailure = failure;
      this.lastFailureAt = Date.now();
    }
    try {
      this.opts.onOutcome?.({ endpoint: this.endpoint, ok: failure === undefined, failure, latencyMs });
    } catch {
      // A faulty metrics hook must not turn a served reply into a failure.
    }
  }

  private error(failure: LegFailure, message: string): LegError {
    return new LegError(failure, message, this.endpoint);
  }

  stats(): LegStats {
    return {
      endpoint: this.endpoint,
      breaker: this.breaker.state,
      ok: this.ok,
      failed: this.failed,
      inFlight: this.transport.inFlight,
      lastLatencyMs: this.lastLatencyMs,
      lastFailure: this.lastFailure,
      lastFailureAt: this.lastFailureAt,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.transport.close();
  }
}
