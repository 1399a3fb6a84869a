/**
 * Backend health for /healthz: every legacy service and the orchestrator probed with a cheap request
 * through its own leg. A backend agents are served by down means agents fail (unhealthy); one only the
 * migration needs down (the new side before new-primary, legacy from then on, the state store) means the
 * migration is paused but agents are served (degraded). A hung backend counts as down at its leg's own deadline: a
 * shorter one would take a slow backend that still answers calls in time for a dead one, and the breaker, counting the
 * probes' timeouts, would then refuse the agents' calls (polled /healthz opened it in front of a 1.2 s orchestrator).
 */
import type { Leg } from '../legs/types.js';
import { LegError } from '../legs/types.js';
import { withDeadline } from '../util/deadline.js';

type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

export interface BackendHealth {
  ok: boolean;
  endpoint: string;
  latency_ms: number | null;
  breaker: string;
  error?: string;
}

export interface HealthReport {
  status: HealthStatus;
  backends: Record<string, BackendHealth>;
  details: { reason?: string };
}

export interface ProbedBackend {
  name: string;
  leg: Leg;
  /** Is it on the agents' path now, or only on the migration's? Asked at each check: it follows the stage. */
  critical(): boolean;
  probe: string;
}

/** A dependency reached otherwise than through a leg (the state store): `check` rejects when it is down. */
export interface HealthCondition {
  name: string;
  critical(): boolean;
  /** Shown as its endpoint (never a URL with credentials). */
  endpoint: string;
  check(): Promise<unknown>;
}

/** One backend's health: its probe sent through its own leg, so a hung one is down at that leg's deadline. */
export async function probe(b: ProbedBackend): Promise<BackendHealth> {
  const started = performance.now();
  try {
    // Any reply proves the service is alive, even an "Unknown action" error from one without health_check.
    await b.leg.call(b.probe);
    return { ok: true, endpoint: b.leg.endpoint, latency_ms: round(performance.now() - started), breaker: b.leg.stats().breaker };
  } catch (err) {
    const error = err instanceof LegError ? `${err.failure}: ${err.message}` : String(err);
    return { ok: false, endpoint: b.leg.endpoint, latency_ms: null, breaker: b.leg.stats().breaker, error };
  }
}

export class HealthChecker {
  constructor(
    private readonly backends: ProbedBackend[],
    private readonly conditions: HealthCondition[] = [],
    /** How long a condition (the store) may take to answer. */
    private readonly conditionTimeoutMs = 1000,
  ) {}

  async check(): Promise<HealthReport> {
    const named = [...this.backends, ...this.conditions];
    const results = await Promise.all([...this.backends.map(probe), ...this.conditions.map((c) => this.verify(c))]);
    const backends = Object.fromEntries(named.map((b, i) => [b.name, results[i]!]));
    const down = named.filter((_, i) => !results[i]!.ok);
    const status: HealthStatus = down.some((b) => b.critical()) ? 'unhealthy' : down.length ? 'degraded' : 'healthy';
    return { status, backends, details: down.length ? { reason: `unreachable: ${down.map((b) => b.name).join(', ')}` } : {} };
  }

  private async verify(c: HealthCondition): Promise<BackendHealth> {
    const started = performance.now();
    try {
      await withDeadline(c.check(), this.conditionTimeoutMs, () => new Error(`no answer within ${this.conditionTimeoutMs} ms`));
      return { ok: true, endpoint: c.endpoint, latency_ms: round(performance.now() - started), breaker: 'n/a' };
    } catch (err) {
      return { ok: false, endpoint: c.endpoint, latency_ms: null, breaker: 'n/a', error: err instanceof Error ? err.message : String(err) };
    }
  }
}

const round = (ms: number) => Math.round(ms * 100) / 100;
