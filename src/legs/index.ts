/** Entry point for legs: picks the transport from the endpoint's scheme. */
import { createHttpLeg } from './http-leg.js';
import type { Leg, LegOptions } from './types.js';
import { createZmqLeg } from './zmq-leg.js';

export * from './types.js';

const ZMQ_SCHEMES = ['tcp://', 'ipc://', 'inproc://'];
const HTTP_SCHEMES = ['http://', 'https://'];

/** Throws on an endpoint no transport speaks: that is a configuration error, not a call failure. */
export function createLeg(endpoint: string, opts: LegOptions): Leg {
  const lower = endpoint.toLowerCase();
  if (ZMQ_SCHEMES.some((s) => lower.startsWith(s))) return createZmqLeg(endpoint, opts);
  if (HTTP_SCHEMES.some((s) => lower.startsWith(s))) return createHttpLeg(endpoint, opts);
  throw new Error(`unsupported leg endpoint "${endpoint}" (expected tcp://, ipc://, inproc://, http:// or https://)`);
}
