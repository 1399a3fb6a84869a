/**
 * The request path shared by every front: route the frame, run it, and say how it went so each
 * front can answer in its own protocol (ZeroMQ: the bytes; HTTP: the bytes plus a status code).
 */
import type { ServiceName } from '../services/registry.js';
import { LegError } from '../legs/types.js';
import { actionLabel, errorReply, routeRequest, type Route } from '../routes/route.js';
import { spansEnabled, traceRequest, type OutcomeKind } from '../telemetry/tracing.js';

export type { OutcomeKind };
import { countRequest } from '../telemetry/request-metrics.js';

export interface Outcome {
  kind: OutcomeKind;
  /** The reply for the agent, exactly as it goes on the wire. */
  reply: Buffer;
}

/** Runs one well-formed request and returns the primary's reply bytes; rejects with LegError when the primary failed. */
type Executor = (route: Route) => Promise<Buffer>;

export interface PipelineOptions {
  maxRequestBytes: number;
  execute: Executor;
}

export class Pipeline {
  constructor(private readonly opts: PipelineOptions) {}

  /** Runs inside a request span (a child of the caller's trace context, if any). */
  handle(service: ServiceName, raw: Buffer): Promise<Outcome> {
    if (!spansEnabled()) return this.run(service, raw);
    return traceRequest(service, (noteRoute) => this.run(service, raw, noteRoute));
  }

  private async run(service: ServiceName, raw: Buffer, noteRoute?: (route: Route) => void): Promise<Outcome> {
    const routed = routeRequest(service, raw, this.opts.maxRequestBytes);
    if (!routed.ok) {
      countRequest(service, 'unknown', 'bad_request');
      return { kind: 'bad_request', reply: routed.reply };
    }
    const { route } = routed;
    noteRoute?.(route);
    let outcome: Outcome;
    try {
      outcome = { kind: 'ok', reply: await this.opts.execute(route) };
    } catch (err) {
      const message =
        err instanceof LegError
          ? `memshift: ${service} backend ${err.failure} (${err.endpoint}): ${err.message}`
          : `memshift: internal error: ${(err as Error).message}`;
      outcome = { kind: 'backend_error', reply: errorReply(service, message, route.request.request_id) };
    }
    countRequest(service, actionLabel(route), outcome.kind);
    return outcome;
  }
}
