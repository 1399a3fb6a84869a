/**
 * Turns one raw frame from an agent into a route: the parsed legacy request, its action's kind and
 * the key it touches; or, for bad input, the error reply in the service's own shape.
 */
import { serviceOf, type ServiceName } from '../services/registry.js';
import type { ActionSpec } from '../services/service.js';
import type { LegacyRequest } from '../services/types.js';
import { pyDumps, pyLoads } from '../util/pyjson.js';
import { storableKey } from '../util/storable-key.js';
import { isObject, legacyKey } from '../services/legacy-values.js';

export interface Route {
  service: ServiceName;
  action: string;
  /** Unknown actions are forwarded to the primary only, which answers them in its own words. */
  spec: ActionSpec | undefined;
  /** The session or user id the request touches, when its action has one: Python's str() of it, as the store can hold it. */
  key: string | undefined;
  /** The request as Python reads it (numbers kept as written); made when first asked for (translation, samples). */
  readonly request: LegacyRequest;
  raw: Buffer;
}

export type Routed = { ok: true; route: Route } | { ok: false; reply: Buffer; reason: string };

/**
 * Routing reads only the action and the key, so a frame takes the native parser's fast path; a frame only
 * Python reads (NaN, a byte-order mark, UTF-16) or a key that is no string takes Python's reading. Whatever
 * Python's json accepts is routed: memshift is never stricter than the service behind it.
 */
export function routeRequest(service: ServiceName, raw: Buffer, maxBytes: number): Routed {
  if (raw.length > maxBytes) return rejected(service, `request of ${raw.length} bytes exceeds the ${maxBytes}-byte limit`);
  let fast: unknown;
  let read: unknown;
  try {
    fast = JSON.parse(raw.toString('utf8'));
  } catch {
    try {
      read = fast = pyLoads(raw);
    } catch (err) {
      return rejected(service, `request is not valid JSON (${(err as Error).message})`);
    }
  }
  if (!isObject(fast)) return rejected(service, 'request must be a JSON object');
  if (typeof fast.action !== 'string' || fast.action === '') {
    return rejected(service, 'request has no "action" string', fast.request_id);
  }
  const { actions } = serviceOf(service);
  // Own keys only: an action named like an Object.prototype member is simply unknown.
  const spec = Object.hasOwn(actions, fast.action) ? actions[fast.action] : undefined;
  const request = () => (read ??= pyLoads(raw)) as LegacyRequest;
  const keyField = spec?.key;
  const given = keyField ? (typeof fast[keyField] === 'string' || fast[keyField] === undefined ? fast[keyField] : request()[keyField]) : undefined;
  const keyValue = given === undefined ? spec?.keyDefault : given;
  return {
    ok: true,
    route: {
      service,
      action: fast.action,
      spec,
      key: keyValue === undefined || keyValue === null ? undefined : storableKey(legacyKey(keyValue)),
      get request() {
        return request();
      },
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
