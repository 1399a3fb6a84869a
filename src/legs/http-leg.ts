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
  /** Aborting these settles the calls in flight (timeout, close). */
  private readonly active = new Set<AbortController>();
  private closed = false;

  constructor(private readonly endpoint: string) {
    const url = new URL(endpoint);
    this.pool = new Pool(url.origin);
    this.path = `${url.pathname}${url.search}`;
  }

  get inFlight(): number {
    return this.active.size;
  }

  // HTTP keeps no order between requests (several connections): no answer is known to come after another.
  connection(): undefined {
    return undefined;
  }

  async exchange(payload: Buffer, timeoutMs: number): Promise<Buffer> {
    if (this.closed) throw new LegError('closed', 'leg is closed', this.endpoint);
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new LegError('timeout', `no reply within ${timeoutMs} ms`, this.endpoint)), timeoutMs);
    this.active.add(ac);
    try {
      const res = await this.pool.request({
        method: 'POST',
        path: this.path,
        headers: { 'content-type': 'application/json' },
        body: payload,
        signal: ac.signal,
      });
      const body = Buffer.from(await res.body.arrayBuffer());
      if (res.statusCode < 200 || res.statusCode >= 300) {
        throw new LegError('protocol', `HTTP ${res.statusCode}`, this.endpoint);
      }
      return body;
    } catch (err) {
      throw this.classify(err);
    } finally {
      clearTimeout(timer);
      this.active.delete(ac);
    }
  }

  private classify(err: unknown): LegError {
    if (err instanceof LegError) return err; // ours, or the abort reason (timeout, closed)
    const code = (err as { code?: unknown }).code;
    const message = err instanceof Error ? err.message : String(err);
    const failure = typeof code === 'string' && UNREACHABLE.has(code) ? 'unavailable' : 'protocol';
    return new LegError(failure, `${code ?? 'error'}: ${message}`, this.endpoint);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const ac of this.active) ac.abort(new LegError('closed', 'leg closed', this.endpoint));
    await this.pool.destroy();
  }
}

export function createHttpLeg(endpoint: string, opts: LegOptions): Leg {
  return new TransportLeg(endpoint, opts, new HttpTransport(endpoint));
}
