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

function call(side: Side, route: Route, opts: SideOptions, ctx: TranslateContext): Promise<Observation> {
  const started = performance.now();
  const observed = (reply: { bytes: Buffer } | { value: unknown }): Observation => {
    const ms = performance.now() - started;
    recordLeg(route.service, actionLabel(route), side, 'ok', ms);
    return new Observation(side, ms, reply);
  };
  const failed = (err: unknown): never => {
    recordLeg(route.service, actionLabel(route), side, failureOf(err), performance.now() - started);
    throw err;
  };
  // One promise reaction on legacy's path (every request at the off stage takes it), not an async layer more.
  if (side === 'legacy') return opts.legacy.call(route.raw).then((bytes) => observed({ bytes }), failed);
  return translated(route, opts, ctx).then((value) => observed({ value }), failed);
}

/**
 * The new side's deadline passed with its translation still under way: an unknown outcome, and the translation
 * may yet send calls (its next step, after a reply that came late) until `settled`. Every step it waits on is
 * bounded (the legs' timeouts, the id map's and the key lock's waits), so `settled` comes.
 */
export class LateTranslation extends LegError {
  readonly settled: Promise<void>;
  /**
   * Its last call's late reply where that call timed out too (unbounded: a backend hung for good never answers): that
   * call may be applied up to then, after `settled`.
   */
  readonly lastLate: Promise<unknown>;

  constructor(message: string, endpoint: string, attempt: Promise<unknown>) {
    const settled = attempt.then(
      () => undefined,
      () => undefined,
    );
    // Its `late` too: the translation's last call may land up to then.
    super('timeout', message, endpoint, settled);
    this.settled = settled;
    this.lastLate = attempt.then(
      () => undefined,
      (err: unknown) => (err instanceof LegError ? err.late : undefined),
    );
  }
}

/** Async so that a translator (or a request Python cannot read) throwing at once rejects like a failure later on. */
async function translated(route: Route, opts: SideOptions, ctx: TranslateContext): Promise<unknown> {
  const attempt = opts.translator.handle(route.request, ctx);
  return withDeadline(
    attempt,
    opts.newTimeoutMs,
    () => new LateTranslation(`new side gave no answer within ${opts.newTimeoutMs} ms`, opts.newEndpoint, attempt),
  );
}
