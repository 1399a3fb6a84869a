/**
 * Turns one raw frame from an agent into a route: the parsed legacy request, its action's kind and
 * the key it touches; or, for bad input, the error reply in the service's own shape.
 */
import { serviceOf, type ServiceName } from '../services/registry.js';
import type { ActionSpec } from '../services/service.js';
import type { LegacyRequest } from '../services/types.js';
import { pyDumps } from '../util/pyjson.js';

export interface Route {
  service: ServiceName;
  action: string;
  /** Unknown actions are forwarded to the primary only, which answers them in its own words. */
  spec: ActionSpec | undefined;
  /** The session or user id the request touches, when its action has one. */
  key: string | undefined;
  request: LegacyRequest;
  raw: Buffer;
}

export type Routed = { ok: true; route: Route } | { ok: false; reply: Buffer; reason: string };

export function routeRequest(service: ServiceName, raw: Buffer, maxBytes: number): Routed {
  if (raw.length > maxBytes) return rejected(service, `request of ${raw.length} bytes exceeds the ${maxBytes}-byte limit`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    return rejected(service, `request is not valid JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return rejected(service, 'request must be a JSON object');
  }
  const obj = parsed as Record<string, unknown>;
  if (typeof obj.action !== 'string' || obj.action === '') {
    return rejected(service, 'request has no "action" string', obj.request_id);
  }
  const { actions } = serviceOf(service);
  // Own keys only: an action named like an Object.prototype member is simply unknown.
  const spec = Object.hasOwn(actions, obj.action) ? actions[obj.action] : undefined;
  const keyValue = spec?.key ? (obj[spec.key] ?? spec.keyDefault) : undefined;
  return {
    ok: true,
    route: {
      service,
      action: obj.action,
      spec,
      key: keyValue === undefined || keyValue === null ? undefined : String(keyValue),
      request: obj as LegacyRequest,
      raw,
    },
  };
}

const rejected = (service: ServiceName, reason: string, requestId?: unknown): Routed => ({
  ok: false,
  reason,
  reply: errorReply(service, `memshift: ${reason}`, requestId),
});

/** Agents may send any action name; only the catalog's become metric and span label values. */
export const actionLabel = (route: Route): string => (route.spec ? route.action : '(unknown)');

export function errorReply(service: ServiceName, message: string, requestId?: unknown): Buffer {
  return Buffer.from(pyDumps(serviceOf(service).errorReply(message, requestId)));
}
