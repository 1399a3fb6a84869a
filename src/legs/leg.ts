/** The transport-independent half of every leg: breaker, timeout, stats and the outcome hook. */
import { Breaker } from './breaker.js';
import { LegError, type Leg, type LegFailure, type LegOptions, type LegStats } from './types.js';

/**
 * One request/reply exchange over some wire. It must reject with a LegError for wire failures and
 * stop caring about the call (free its slot, drop a late reply) once `signal` aborts.
 */
export interface Transport {
  exchange(payload: Buffer, signal: AbortSignal): Promise<Buffer>;
  close(): Promise<void>;
}

export class TransportLeg implements Leg {
  private readonly breaker: Breaker;
  /** Aborting these settles the calls in flight (timeout, close). */
  private readonly active = new Set<AbortController>();
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
  }

  async call(payload: Buffer | string, callOpts?: { timeoutMs?: number }): Promise<Buffer> {
    const started = performance.now();
    let failure: LegFailure | undefined;
    try {
      return await this.admitted(
        typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload,
        callOpts?.timeoutMs ?? this.opts.timeoutMs,
      );
    } catch (err) {
      const legErr = err instanceof LegError ? err : this.error('protocol', String(err));
      failure = legErr.failure;
      throw legErr;
    } finally {
      this.report(performance.now() - started, failure);
    }
  }

  private async admitted(payload: Buffer, timeoutMs: number): Promise<Buffer> {
    if (this.closed) throw this.error('closed', 'leg is closed');
    const permit = this.breaker.admit();
    if (permit === null) throw this.error('circuit_open', 'circuit breaker is open');
    try {
      const reply = await this.attempt(payload, timeoutMs);
      this.breaker.record(permit);
      return reply;
    } catch (err) {
      this.breaker.record(permit, err instanceof LegError ? err.failure : 'protocol');
      throw err;
    }
  }

  private async attempt(payload: Buffer, timeoutMs: number): Promise<Buffer> {
    const ac = new AbortController();
    const stopped = new Promise<never>((_, reject) => {
      ac.signal.addEventListener('abort', () => reject(ac.signal.reason), { once: true });
    });
    const timer = setTimeout(
      () => ac.abort(this.error('timeout', `no reply within ${timeoutMs} ms`)),
      timeoutMs,
    );
    this.active.add(ac);
    try {
      return await Promise.race([this.transport.exchange(payload, ac.signal), stopped]);
    } finally {
      clearTimeout(timer);
      this.active.delete(ac);
    }
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
      inFlight: this.active.size,
      lastLatencyMs: this.lastLatencyMs,
      lastFailure: this.lastFailure,
      lastFailureAt: this.lastFailureAt,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const ac of this.active) ac.abort(this.error('closed', 'leg closed'));
    await this.transport.close();
  }
}
