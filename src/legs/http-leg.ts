/** HTTP leg: `POST url` with the request bytes as body; the reply is the response body, bytes untouched. */
import { Pool } from 'undici';
import { TransportLeg, type Transport } from './leg.js';
import { LegError, type Leg, type LegOptions } from './types.js';

/** Socket-level errors that mean "nobody there" rather than "answered badly". */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
]);

class HttpTransport implements Transport {
  private readonly pool: Pool;
  private readonly path: string;

  constructor(private readonly endpoint: string) {
    const url = new URL(endpoint);
    this.pool = new Pool(url.origin);
    this.path = `${url.pathname}${url.search}`;
  }

  async exchange(payload: Buffer, signal: AbortSignal): Promise<Buffer> {
    let res;
    try {
      res = await this.pool.request({
        method: 'POST',
        path: this.path,
        headers: { 'content-type': 'application/json' },
        body: payload,
        signal,
      });
    } catch (err) {
      throw this.classify(err);
    }
    let body: Buffer;
    try {
      body = Buffer.from(await res.body.arrayBuffer());
    } catch (err) {
      throw this.classify(err);
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      throw new LegError('protocol', `HTTP ${res.statusCode}`, this.endpoint);
    }
    return body;
  }

  private classify(err: unknown): LegError {
    if (err instanceof LegError) return err; // the abort reason (timeout, closed)
    const code = (err as { code?: unknown }).code;
    const message = err instanceof Error ? err.message : String(err);
    const failure = typeof code === 'string' && UNREACHABLE.has(code) ? 'unavailable' : 'protocol';
    return new LegError(failure, `${code ?? 'error'}: ${message}`, this.endpoint);
  }

  async close(): Promise<void> {
    // Calls in flight were already settled by the leg; nothing here is worth waiting for.
    await this.pool.destroy();
  }
}

export function createHttpLeg(endpoint: string, opts: LegOptions): Leg {
  return new TransportLeg(endpoint, opts, new HttpTransport(endpoint));
}
