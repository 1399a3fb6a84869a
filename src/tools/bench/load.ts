/**
 * A load generator of N REQ clients for a fixed time. Closed loop (each client sends as soon as its
 * previous reply arrives) measures saturation throughput; paced (each client sends every `intervalMs`)
 * measures latency at a steady load below saturation, where queueing does not swamp what is added.
 * With several endpoints, every client takes them in turn, so all are measured over the same moments
 * and a hiccup of the machine lands on each alike.
 */
import * as zmq from 'zeromq';

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  mean: number;
  /** Every answered request's latency in ms, sorted: rounds of one path pool them (pooled()). */
  samples: number[];
}

export interface LoadOptions {
  endpoints: string[];
  clients: number;
  durationMs: number;
  /** Builds the request for client `c`'s `n`-th call, sent to endpoint `e` (its index in `endpoints`). */
  request(c: number, n: number, e: number): string;
  /** Checks a reply; a false result counts as an error. */
  check?(reply: Buffer): boolean;
  timeoutMs?: number;
  /** Paced mode: each client starts a request every `intervalMs` (closed loop when absent). */
  intervalMs?: number;
}

/** One result per endpoint, in the order given. */
export async function runLoad(opts: LoadOptions): Promise<LoadResult[]> {
  const k = opts.endpoints.length;
  const latencies: number[][] = opts.endpoints.map(() => []);
  const errors = opts.endpoints.map(() => 0);
  const stopAt = performance.now() + opts.durationMs;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: opts.clients }, async (_, c) => {
      const socks = opts.endpoints.map((e) => newClient(e, opts));
      // Paced clients start spread over one interval so their requests do not arrive in bursts.
      let nextAt = performance.now() + (opts.intervalMs ? (opts.intervalMs * c) / opts.clients : 0);
      for (let n = 0; performance.now() < stopAt; n++) {
        if (opts.intervalMs) {
          const wait = nextAt - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          nextAt += opts.intervalMs;
        }
        // Clients start on different endpoints, so at every moment each endpoint has its share.
        const e = (n + c) % k;
        const t0 = performance.now();
        try {
          await socks[e]!.send(opts.request(c, n, e));
          const [reply] = await socks[e]!.receive();
          latencies[e]!.push(performance.now() - t0);
          if (opts.check && !opts.check(reply!)) errors[e]!++;
        } catch {
          errors[e]!++;
          // A REQ socket that timed out is stuck in its lockstep: replace it.
          socks[e]!.close();
          socks[e] = newClient(opts.endpoints[e]!, opts);
        }
      }
      for (const s of socks) s.close();
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return latencies.map((l, e) => {
    l.sort((a, b) => a - b);
    return {
      requests: l.length,
      errors: errors[e]!,
      seconds,
      rps: l.length / seconds,
      p50: percentile(l, 0.5),
      p99: percentile(l, 0.99),
      mean: l.reduce((a, b) => a + b, 0) / Math.max(1, l.length),
      samples: l,
    };
  });
}

/** Rounds of one path as one result: counts summed, percentiles over all their requests together. */
export function pooled(rs: readonly LoadResult[]): LoadResult {
  const samples = rs.flatMap((r) => r.samples).sort((a, b) => a - b);
  const seconds = rs.reduce((a, r) => a + r.seconds, 0);
  return {
    requests: samples.length,
    errors: rs.reduce((a, r) => a + r.errors, 0),
    seconds,
    rps: samples.length / seconds,
    p50: percentile(samples, 0.5),
    p99: percentile(samples, 0.99),
    mean: samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length),
    samples,
  };
}

/**
 * Sends `requests` one at a time on one REQ socket, as one agent does (a history written, a session created first);
 * resolves with the last one's reply.
 */
export async function sendInTurn(endpoint: string, requests: Iterable<string>, timeoutMs = 30_000): Promise<Buffer | undefined> {
  const sock = new zmq.Request({ linger: 0, receiveTimeout: timeoutMs });
  sock.connect(endpoint);
  let reply: Buffer | undefined;
  try {
    for (const r of requests) {
      await sock.send(r);
      [reply] = await sock.receive();
    }
    return reply;
  } finally {
    sock.close();
  }
}

function newClient(endpoint: string, opts: LoadOptions): zmq.Request {
  const sock = new zmq.Request({ linger: 0, receiveTimeout: opts.timeoutMs ?? 5000, sendTimeout: opts.timeoutMs ?? 5000 });
  sock.connect(endpoint);
  return sock;
}

function percentile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
