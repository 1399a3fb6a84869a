/** Scripted pieces for the unit tests of src/plan/turned.ts: legs' health as their stats tell it, routes, an observer. */
import type { LegStats } from '../../src/legs/types.js';
import type { ExecutionObserver } from '../../src/plan/observer.js';
import type { SideOptions } from '../../src/plan/sides.js';
import type { ServiceName } from '../../src/services/registry.js';
import { routeRequest, type Route } from '../../src/routes/route.js';

const answering: LegStats = {
  endpoint: '',
  breaker: 'closed',
  ok: 1,
  failed: 0,
  inFlight: 0,
  lastLatencyMs: 1,
  lastFailure: null,
  lastFailureAt: null,
  lastSuccessAt: Date.now(),
};

/** Both legs answering, or legacy's last call failed a moment ago with none answered since. */
export function sidesOf(legacy: 'answering' | 'failed lately' = 'answering'): SideOptions {
  const failing: LegStats = { ...answering, lastFailureAt: Date.now(), lastSuccessAt: Date.now() - 1_000 };
  const stats = legacy === 'answering' ? answering : failing;
  return { legacy: { stats: () => stats }, newLeg: { stats: () => answering } } as unknown as SideOptions;
}

/** The route of one request. */
export function routeOf(service: ServiceName, request: object): Route {
  const routed = routeRequest(service, Buffer.from(JSON.stringify(request)), 1 << 20);
  if (!routed.ok) throw new Error(routed.reason);
  return routed.route;
}

/** An observer told only that a stale read was avoided. */
export const observer = { staleReadAvoided: () => undefined } as unknown as ExecutionObserver;
