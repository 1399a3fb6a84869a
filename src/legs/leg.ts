/** The transport-independent half of every leg: refusals, breaker, timing and stats around its transport's exchange. */
import { Breaker } from './breaker.js';
import { LegError, type Leg, type LegFailure, type LegOptions, type LegStats } from './types.js';

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
  private readonly maxInFlight: number;
  private closed = false;
  private ok = 0;
  private failed = 0;
  private lastLatencyMs: number | null = null;
  private lastFailure: LegFailure | null = null;
  private lastFailureAt: number | null = null;
  private lastSuccessAt: number | null = null;

  constructor(
    readonly endpoint: string,
    private readonly opts: LegOptions,
    private readonly transport: Transport,
  ) {
    this.breaker = new Breaker(opts.breaker);
    // A backend that connects again is back: agents need not sit out the rest of the open period.
    transport.onConnect?.(() => this.breaker.reset());
    this.maxInFlight = opts.maxInFlight ?? Number.POSITIVE_INFINITY;
  }

  get timeoutMs(): number {
    return this.opts.timeoutMs;
  }

  connection(): number | undefined {
    return this.transport.connection();
  }

  /**
   * Refused when closed or saturated, then through the breaker, then sent; every call timed and reported, refused ones
   * included. One promise reaction per call, not a layer each: this runs for every request an agent makes.
   */
  call(payload: Buffer | string, callOpts?: { timeoutMs?: number }): Promise<Buffer> {
    const started = performance.now();
    const refused = this.refusal();
    if (refused) return this.failedCall(started, refused);
    // Saturation is checked first: a call refused for it must not take (and spend) the breaker's trial.
    const permit = this.breaker.admit();
    if (permit === null) return this.failedCall(started, this.error('circuit_open', 'circuit breaker is open'));
    const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
    return this.transport.exchange(bytes, callOpts?.timeoutMs ?? this.opts.timeoutMs).then(
      (reply) => {
        this.breaker.record(permit);
        this.report(performance.now() - started, undefined);
        return reply;
      },
      (err: unknown) => {
        // Whatever a transport throws leaves the leg as a LegError ('protocol' unless it says otherwise).
        const legError = err instanceof LegError ? err : new LegError('protocol', String(err), this.endpoint);
        this.breaker.record(permit, legError.failure);
        this.report(performance.now() - started, legError.failure);
        throw legError;
      },
    );
  }

  private refusal(): LegError | undefined {
    if (this.closed) return this.error('closed', 'leg is closed');
    if (this.transport.inFlight >= this.maxInFlight) return this.error('saturated', `${this.maxInFlight} calls unanswered: not sending more`);
    return undefined;
  }

  private failedCall(started: number, err: LegError): Promise<never> {
    this.report(performance.now() - started, err.failure);
    return Promise.reject(err);
  }

  private report(latencyMs: number, failure: LegFailure | undefined): void {
    this.lastLatencyMs = latencyMs;
    if (failure === undefined) {
      this.ok++;
      this.lastSuccessAt = Date.now();
    } else {
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
      lastSuccessAt: this.lastSuccessAt,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.transport.close();
  }
}
