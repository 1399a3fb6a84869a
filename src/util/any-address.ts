/**
 * Binding "every address": `::` (HTTP) and `tcp://[::]:port` (ZeroMQ) take both families, so an IPv6-only cluster's
 * probes and agents reach memshift as IPv4 ones do; on a kernel without IPv6 at all (ipv6.disable=1, as some hardening
 * guides ask) that bind fails, and IPv4's any-address is bound instead. Where such a bind is reached from this host,
 * it is named by its loopback address.
 */
import { childLogger } from '../telemetry/log.js';

const log = childLogger('bind');

/** IPv4's any-address in place of both families' one; undefined for any other address. */
function ipv4Any(address: string): string | undefined {
  if (address === '::') return '0.0.0.0';
  const m = /^tcp:\/\/\[::\]:(.+)$/.exec(address);
  return m ? `tcp://0.0.0.0:${m[1]}` : undefined;
}

/** `bind(address)`, or `bind` of IPv4's any-address where the kernel has no IPv6 (EAFNOSUPPORT). */
export async function bindAny<T>(address: string, bind: (address: string) => Promise<T>): Promise<T> {
  try {
    return await bind(address);
  } catch (err) {
    const fallback = ipv4Any(address);
    if (!fallback || (err as { code?: unknown }).code !== 'EAFNOSUPPORT') throw err;
    log.warn({ address, fallback }, 'no IPv6 on this host: bound to IPv4 addresses only');
    return bind(fallback);
  }
}

/** An any-address `host` as this host reaches it (127.0.0.1, which both binds take); any other as it is. */
export const localHost = (host: string): string => (host === '::' || host === '0.0.0.0' ? '127.0.0.1' : host);

/** A ZeroMQ endpoint bound on an any-address, as this host reaches it; any other as it is. */
export const localEndpoint = (endpoint: string): string => endpoint.replace(/^tcp:\/\/(\[::\]|0\.0\.0\.0):/, 'tcp://127.0.0.1:');
