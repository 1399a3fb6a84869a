/**
 * What every front does with one frame from an agent: route it, have the runner run it, and say how it went
 * so each front can answer in its own protocol (ZeroMQ: the bytes; HTTP: the bytes plus a status code).
 */
import type { ServiceName } from '../services/registry.js';
import { LegError } from '../legs/types.js';
import { actionLabel, errorReply, routeRequest, type Route } from '../routes/route.js';
import { spansEnabled, traceRequest } from '../telemetry/tracing.js';
import { countRequest } from '../telemetry/request-metrics.js';
import { childLogger } from '../telemetry/log.js';

const log = childLogger('fronts');

/** How a request ended, as spans, request metrics and the HTTP status label it. */
export type OutcomeKind = 'ok' | 'bad_request' | 'backend_error';

export interface Outcome {
  kind: OutcomeKind;
  /** The reply for the agent, exactly as it goes on the wire. */
  reply: Buffer;
}

/** Answers one frame for a service; runs inside a request span (a child of the caller's trace context, if any). */
export type FrameHandler = (service: ServiceName, raw: Buffer) => Promise<Outcome>;

/**
 * `run` carries out a well-formed request and resolves with the primary's reply bytes; rejects when the primary failed.
 * `served` hears of every request answered (for the daily report), as the request metrics do (for Prometheus).
 */
export function frameHandler(
  maxRequestBytes: number,
  run: (route: Route) => Promise<Buffer>,
  served: (service: ServiceName, action: string, outcome: OutcomeKind) => void,
): FrameHandler {
  const handle = (service: ServiceName, raw: Buffer, noteAction?: (action: string) => void): Promise<Outcome> => {
    const routed = routeRequest(service, raw, maxRequestBytes);
    if (!routed.ok) {
      countRequest(service, 'unknown', 'bad_request');
      served(service, 'unknown', 'bad_request');
      return Promise.resolve({ kind: 'bad_request', reply: routed.reply });
    }
    const { route } = routed;
    noteAction?.(actionLabel(route));
    const counted = (outcome: Outcome): Outcome => {
      const action = actionLabel(route);
      countRequest(service, action, outcome.kind);
      served(service, action, outcome.kind);
      return outcome;
    };
    // One promise reaction, not an async layer more: every request takes this path.
    return run(route).then(
      (reply) => counted({ kind: 'ok', reply }),
      (err: unknown) => {
        // Not a backend's failure: a fault of memshift's own, which the agent's error alone would not let anyone find.
        if (!(err instanceof LegError)) log.error({ err, service, action: actionLabel(route) }, 'internal error answered to the agent');
        const message =
          err instanceof LegError
            ? `memshift: ${service} backend ${err.failure} (${err.endpoint}): ${err.message}`
            : `memshift: internal error: ${(err as Error).message}`;
        return counted({ kind: 'backend_error', reply: errorReply(service, message, route.request.request_id) });
      },
    );
  };
  return (service, raw) => (spansEnabled() ? traceRequest(service, (note) => handle(service, raw, note)) : handle(service, raw));
}
