/**
 * Turns one raw frame from an agent into a route: the parsed legacy request, its action's kind and
 * the key it touches; or, for bad input, the error reply in the service's own shape.
 */
import { serviceOf, type ServiceName } from '../services/registry.js';
import type { ActionSpec } from '../services/service.js';
import type { LegacyRequest } from '../services/types.js';
import { assertShallow, PyJsonError, pyDumps, pyLoads } from '../util/pyjson.js';
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
  /**
   * The request as the native parser read it, when it could: its strings are Python's, its numbers may not be.
   * What reads only string fields (the flags' session and user) takes them here without Python's slower reading.
   */
  readonly parsed?: Record<string, unknown>;
  raw: Buffer;
}

export type Routed = { ok: true; route: Route } | { ok: false; reply: Buffer; reason: string };

/**
 * Routing reads only the action and the key, so a frame takes the native parser's fast path; a frame only
 * Python reads (NaN, a byte-order mark, UTF-16) or a key that is no string takes Python's reading. memshift is
 * never stricter than the service behind it: a frame with no usable action, or no JSON at all, is routed as an
 * unknown action, which the primary answers in its own words. Only a frame too large or too deeply nested for
 * memshift to take apart is refused, with a bad-input error in the service's shape.
 */
export function routeRequest(service: ServiceName, raw: Buffer, maxBytes: number): Routed {
  if (raw.length > maxBytes) return rejected(service, `request of ${raw.length} bytes exceeds the ${maxBytes}-byte limit`);
  let fast: unknown;
  let read: unknown;
  try {
    const text = raw.toString('utf8');
    assertShallow(text);
    fast = JSON.parse(text);
  } catch (err) {
    if (err instanceof PyJsonError) return rejected(service, `request is ${err.message}`);
    try {
      read = fast = pyLoads(raw);
    } catch (err) {
      if (err instanceof PyJsonError && err.tooDeep) return rejected(service, `request is ${err.message}`);
      // Not JSON to Python either: the service says so itself.
      read = fast = undefined;
    }
  }
  const obj = isObject(fast) ? fast : undefined;
  const action = typeof obj?.action === 'string' ? obj.action : '';
  const { actions } = serviceOf(service);
  // Own keys only: an action named like an Object.prototype member is simply unknown.
  const spec = Object.hasOwn(actions, action) ? actions[action] : undefined;
  const request = () => {
    if (read === undefined) read = obj ? pyLoads(raw) : { action };
    return (isObject(read) ? read : { action }) as LegacyRequest;
  };
  const keyField = spec?.key;
  const given = keyField ? (typeof obj?.[keyField] === 'string' || obj?.[keyField] === undefined ? obj?.[keyField] : request()[keyField]) : undefined;
  const keyValue = given === undefined ? spec?.keyDefault : given;
  const key = keyValue === undefined || keyValue === null ? undefined : storableKey(legacyKey(keyValue));
  return { ok: true, route: new RoutedFrame(service, action, spec, key, obj, raw, request) };
}

/**
 * A route as routeRequest makes it: a class, so every route has one shape. An object literal with a getter and
 * a spread member was a slow-mode object, and each of the dozen reads of a route a request makes cost a lookup:
 * 7 microseconds of CPU a request at the off stage.
 */
class RoutedFrame implements Route {
  readonly #read: () => LegacyRequest;

  constructor(
    readonly service: ServiceName,
    readonly action: string,
    readonly spec: ActionSpec | undefined,
    readonly key: string | undefined,
    readonly parsed: Record<string, unknown> | undefined,
    readonly raw: Buffer,
    read: () => LegacyRequest,
  ) {
    this.#read = read;
  }

  get request(): LegacyRequest {
    return this.#read();
  }
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
