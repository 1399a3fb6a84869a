/**
 * Calling one side for a route and getting its reply both as wire bytes and as a value: legacy
 * through its leg (bytes untouched), new through the translator (value rebuilt in the legacy shape).
 */
import type { Leg } from '../legs/types.js';
import { LegError } from '../legs/types.js';
import type { Translator } from '../services/types.js';
import { pyDumps } from '../util/pyjson.js';
import type { Side } from './plan.js';
import type { Route } from './route.js';
import { traceLeg } from '../telemetry/tracing.js';
import { withDeadline } from '../util/deadline.js';

export interface SideReply {
  side: Side;
  bytes: Buffer;
  value: unknown;
  latencyMs: number;
}

export interface SideOptions {
  legacy: Leg;
  translator: Translator;
  /** Budget for everything one request does on the new side (a translation may take several calls). */
  newTimeoutMs: number;
  newEndpoint: string;
}

export function callSide(side: Side, route: Route, opts: SideOptions, createMissing: boolean): Promise<SideReply> {
  return traceLeg(side, route, () => call(side, route, opts, createMissing));
}

async function call(side: Side, route: Route, opts: SideOptions, createMissing: boolean): Promise<SideReply> {
  const started = performance.now();
  if (side === 'legacy') {
    const bytes = await opts.legacy.call(route.raw);
    return { side, bytes, value: parseReply(bytes), latencyMs: performance.now() - started };
  }
  const value = await withDeadline(opts.translator.handle(route.request, { createMissing }), opts.newTimeoutMs, () => new LegError('timeout', `new side gave no answer within ${opts.newTimeoutMs} ms`, opts.newEndpoint));
  return { side, bytes: Buffer.from(pyDumps(value)), value, latencyMs: performance.now() - started };
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
