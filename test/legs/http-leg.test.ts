/** The HTTP leg (undici) against a real HTTP server: replies, timeouts, failures, bounds. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLeg, type Leg, type LegOutcome } from '../../src/legs/index.js';
import { failureOf } from './backends.js';

let server: Server;
let base: string;
const seen: Array<{ method?: string; url?: string; type?: string }> = [];
const legs: Leg[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, type: req.headers['content-type'] });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.url === '/fail') return void res.writeHead(500).end('{"error": "boom"}');
      if (req.url === '/slow') return void setTimeout(() => res.writeHead(200).end(body), 2000);
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await Promise.all(legs.map((l) => l.close()));
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function leg(url: string, onOutcome?: (o: LegOutcome) => void): Leg {
  const l = createLeg(url, { timeoutMs: 5000, breaker: { failureThreshold: 100, openMs: 1000 }, onOutcome });
  legs.push(l);
  return l;
}

describe('http leg', () => {
  it('POSTs the payload and returns the body bytes untouched', async () => {
    const outcomes: LegOutcome[] = [];
    const l = leg(`${base}/echo?x=1`, (o) => outcomes.push(o));
    const json = '{"action": "get_memories", "user_id": "u\u00e9"}';
    expect((await l.call(json)).toString('utf8')).toBe(json);
    expect((await l.call('true')).toString()).toBe('true');
    expect(seen.at(-1)).toEqual({ method: 'POST', url: '/echo?x=1', type: 'application/json' });
    expect(outcomes.map((o) => o.ok)).toEqual([true, true]);
    expect(l.stats()).toMatchObject({ ok: 2, failed: 0, inFlight: 0 });
  });

  it('reports a non-2xx answer as protocol', async () => {
    const l = leg(`${base}/fail`);
    expect(await failureOf(l.call('{}'))).toBe('protocol');
    expect(l.stats()).toMatchObject({ failed: 1, lastFailure: 'protocol' });
  });

  it('times out a slow backend', async () => {
    const l = leg(`${base}/slow`);
    // A timeout, not the reply 2 s later.
    expect(await failureOf(l.call('{}', { timeoutMs: 150 }))).toBe('timeout');
    expect((await leg(`${base}/echo`).call('ok')).toString()).toBe('ok');
  });

  it('fails fast with unavailable when the connection is refused', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const l = leg(`http://127.0.0.1:${port}/`);
    const started = Date.now();
    expect(await failureOf(l.call('{}'))).toBe('unavailable');
    // Well before the call's 5 s timeout (a generous bound: CI's cores are shared).
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('rejects an endpoint scheme no transport speaks', () => {
    expect(() => createLeg('ftp://x', { timeoutMs: 1, breaker: { failureThreshold: 1, openMs: 1 } })).toThrow(/unsupported/);
  });
});
