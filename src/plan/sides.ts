/**
 * Calling one side for a route and observing its reply: legacy through its leg (bytes untouched), new
 * through the translator (value rebuilt in the legacy shape).
 */
import type { Leg } from '../legs/types.js';
import { LegError } from '../legs/types.js';
import type { TranslateContext, Translator } from '../services/types.js';
import { Observation } from '../comparison/observation.js';
import type { Side } from './plan.js';
import type { Route } from '../routes/route.js';
import { failureOf, spansEnabled, traceLeg } from '../telemetry/tracing.js';
import { recordLeg } from '../telemetry/request-metrics.js';
import { withDeadline } from '../util/deadline.js';
import { actionLabel } from '../routes/route.js';

export interface SideOptions {
  legacy: Leg;
  /** The leg the translator's orchestrator calls go out on. */
  newLeg: Leg;
  translator: Translator;
  /** Budget for everything one request does on the new side (a translation may take several calls). */
  newTimeoutMs: number;
  newEndpoint: string;
}

/** What the new side needs beyond the request: see TranslateContext (legacy ignores it). */
const READ: TranslateContext = { createMissing: false };

/** One side's reply to the route. */
export function callSide(side: Side, route: Route, opts: SideOptions, ctx: TranslateContext = READ): Promise<Observation> {
  if (!spansEnabled()) return call(side, route, opts, ctx);
  return traceLeg(side, route.service, actionLabel(route), () => call(side, route, opts, ctx));
}

async function call(side: Side, route: Route, opts: SideOptions, ctx: TranslateContext): Promise<Observation> {
  const started = performance.now();
  let outcome = 'ok';
  try {
    const reply =
      side === 'legacy'
        ? { bytes: await opts.legacy.call(route.raw) }
        : {
            value: await withDeadline(
              opts.translator.handle(route.request, ctx),
              opts.newTimeoutMs,
              () => new LegError('timeout', `new side gave no answer within ${opts.newTimeoutMs} ms`, opts.newEndpoint),
            ),
          };
    return new Observation(side, performance.now() - started, reply);
  } catch (err) {
    outcome = failureOf(err);
    throw err;
  } finally {
    recordLeg(route.service, actionLabel(route), side, outcome, performance.now() - started);
  }
}
