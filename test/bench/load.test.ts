// The bench's load generator and CPU placement: interleaved endpoints each get their share of the same
// moments, every reply is checked per endpoint, and taskset CPU lists are read as Linux writes them.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pooled, runLoad, type LoadResult } from '../../src/tools/bench/load.js';
import { parseCpuList } from '../../src/tools/bench/placement.js';
import { startRep, type RepBackend } from '../legs/backends.js';

let a: RepBackend;
let b: RepBackend;
beforeAll(async () => {
  [a, b] = [await startRep(), await startRep()];
});
afterAll(() => {
  a?.close();
  b?.close();
});

it('interleaves paced clients over the endpoints and checks replies per endpoint', async () => {
  const [ra, rb] = await runLoad({
    endpoints: [a.endpoint, b.endpoint],
    clients: 4,
    durationMs: 600,
    intervalMs: 20,
    request: (c, n) => `client ${c} call ${n}`,
    // The echo of an odd client's request counts as an error: errors land on the endpoint that answered.
    check: (reply) => !/client [13] /.test(reply.toString()),
  });
  // 4 clients x 600 ms / 20 ms = about 120 calls, split evenly because clients take the endpoints in turn.
  expect(ra!.requests + rb!.requests).toBeGreaterThan(80);
  expect(Math.abs(ra!.requests - rb!.requests)).toBeLessThanOrEqual(4);
  expect(a.answered()).toBe(ra!.requests);
  expect(b.answered()).toBe(rb!.requests);
  expect(ra!.errors).toBeGreaterThan(0);
  expect(ra!.errors + rb!.errors).toBeCloseTo((ra!.requests + rb!.requests) / 2, -1);
  expect(ra!.p50).toBeGreaterThan(0);
  expect(ra!.p99).toBeGreaterThanOrEqual(ra!.p50);
});

it('pools rounds of one path: percentiles over all their requests, not per round', () => {
  const round = (samples: number[], seconds: number): LoadResult => ({
    requests: samples.length,
    errors: 1,
    seconds,
    rps: 0,
    p50: NaN,
    p99: NaN,
    mean: NaN,
    samples,
  });
  // An early round of 150 fast requests, a late one of 50 slower ones and one very slow: in the late round alone
  // that one is its p99 (and the late p50 is 2), but it is under 1% of the whole.
  const early = round(
    Array.from({ length: 150 }, () => 1),
    5,
  );
  const late = round([...Array.from({ length: 50 }, () => 2), 60], 5);
  expect([late.samples[Math.floor(0.99 * 51)], late.samples[25]]).toEqual([60, 2]);
  const both = pooled([late, early]);
  expect([both.requests, both.errors, both.seconds, both.rps]).toEqual([201, 2, 10, 20.1]);
  expect([both.p50, both.p99]).toEqual([1, 2]);
  expect(both.mean).toBeCloseTo((150 + 100 + 60) / 201, 9);
});

it('reads taskset CPU lists', () => {
  expect(parseCpuList('0-1')).toEqual([0, 1]);
  expect(parseCpuList('0,2-4,7')).toEqual([0, 2, 3, 4, 7]);
  expect(parseCpuList('3')).toEqual([3]);
  expect(parseCpuList('')).toEqual([]);
});
