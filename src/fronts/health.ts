/**
 * Backend health for /healthz: every legacy service and the orchestrator probed with a cheap request
 * through its own leg. Legacy down means agents fail (unhealthy); only the new side down means the
 * migration is paused but agents are served (degraded).
 */
import type { Leg } from '../legs/types.js';
import { LegError } from '../legs/types.js';

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

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
  /** Is this side on the agents' path (legacy) or only on the migration's (new)? */
  critical: boolean;
  probe: string;
}

export class HealthChecker {
  constructor(
    private readonly backends: ProbedBackend[],
    private readonly timeoutMs = 1000,
  ) {}

  async check(): Promise<HealthReport> {
    const results = await Promise.all(this.backends.map((b) => this.probe(b)));
    const backends = Object.fromEntries(this.backends.map((b, i) => [b.name, results[i]!]));
    const down = this.backends.filter((_, i) => !results[i]!.ok);
    const status: HealthStatus = down.some((b) => b.critical) ? 'unhealthy' : down.length ? 'degraded' : 'healthy';
    return { status, backends, details: down.length ? { reason: `unreachable: ${down.map((b) => b.name).join(', ')}` } : {} };
  }

  private async probe(b: ProbedBackend): Promise<BackendHealth> {
    const started = performance.now();
    try {
      // Any reply proves the service is alive, even an "Unknown action" error from one without health_check.
      await b.leg.call(b.probe, { timeoutMs: this.timeoutMs });
      return { ok: true, endpoint: b.leg.endpoint, latency_ms: round(performance.now() - started), breaker: b.leg.stats().breaker };
    } catch (err) {
      const error = err instanceof LegError ? `${err.failure}: ${err.message}` : String(err);
      return { ok: false, endpoint: b.leg.endpoint, latency_ms: null, breaker: b.leg.stats().breaker, error };
    }
  }
}

const round = (ms: number) => Math.round(ms * 100) / 100;
