/**
 * Calling one side for a route and getting its reply both as wire bytes and as a value: legacy
 * through its leg (bytes untouched), new through the translator (value rebuilt in the legacy shape).
 * Each form is made only when asked for: a passthrough never parses the reply it forwards.
 */
import type { Leg } from '../legs/types.js';
import { LegError } from '../legs/types.js';
import type { Translator } from '../services/types.js';
import { pyDumps } from '../util/pyjson.js';
import type { Side } from './plan.js';
import type { Route } from '../routes/route.js';
import { spansEnabled, traceLeg } from '../telemetry/tracing.js';
import { recordLeg } from '../telemetry/request-metrics.js';
import { withDeadline } from '../util/deadline.js';
import { actionLabel } from '../routes/route.js';

export class SideReply {
  private parsed?: { value: unknown };
  private wire?: Buffer;

  constructor(
    readonly side: Side,
    readonly latencyMs: number,
    reply: { bytes: Buffer } | { value: unknown },
  ) {
    if ('bytes' in reply) this.wire = reply.bytes;
    else this.parsed = { value: reply.value };
  }

  get bytes(): Buffer {
    return (this.wire ??= Buffer.from(pyDumps(this.parsed!.value)));
  }

  get value(): unknown {
    return (this.parsed ??= { value: parseReply(this.wire!) }).value;
  }
}

export interface SideOptions {
  legacy: Leg;
  /** The leg the translator's orchestrator calls go out on. */
  newLeg: Leg;
  translator: Translator;
  /** Budget for everything one request does on the new side (a translation may take several calls). */
  newTimeoutMs: number;
  newEndpoint: string;
}

/** One side's reply to the route; `writeId` tags what a write creates on the new side (see TranslateContext). */
export function callSide(side: Side, route: Route, opts: SideOptions, createMissing: boolean, writeId?: string): Promise<SideReply> {
  if (!spansEnabled()) return call(side, route, opts, createMissing, writeId);
  return traceLeg(side, route, () => call(side, route, opts, createMissing, writeId));
}

async function call(side: Side, route: Route, opts: SideOptions, createMissing: boolean, writeId: string | undefined): Promise<SideReply> {
  const started = performance.now();
  let outcome = 'ok';
  try {
    const reply =
      side === 'legacy'
        ? { bytes: await opts.legacy.call(route.raw) }
        : {
            value: await withDeadline(
              opts.translator.handle(route.request, writeId ? { createMissing, writeId } : { createMissing }),
              opts.newTimeoutMs,
              () => new LegError('timeout', `new side gave no answer within ${opts.newTimeoutMs} ms`, opts.newEndpoint),
            ),
          };
    return new SideReply(side, performance.now() - started, reply);
  } catch (err) {
    outcome = err instanceof LegError ? err.failure : 'error';
    throw err;
  } finally {
    recordLeg(route.service, actionLabel(route), side, outcome, performance.now() - started);
  }
}

/** Replies are JSON; one that is not is kept as its text so it can still be passed on and compared. */
export function parseReply(bytes: Buffer): unknown {
  const text = bytes.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
