// Telemetry through a running proxy: Prometheus series at GET /metrics, a span per request with a child
// per leg, and a caller's W3C trace context continued from the HTTP front.
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startProxy, type Proxy } from '../../src/proxy.js';
import { startTelemetry } from '../../src/telemetry/index.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { flagName } from '../../src/flags/names.js';
import { TempFlags } from '../flags/helpers.js';
import { requestOnce } from '../support/zmq-client.js';
import { freshDatabaseUrl } from '../support/database.js';
import { configFor, startSims } from '../support/stack.js';

const S = 'jarvis-memory' as const;
const spans = new InMemorySpanExporter();
let sims: SimHandle;
let proxy: Proxy;
let temp: TempFlags;

beforeAll(async () => {
  // First start wins for the process: the in-memory exporter sees every span.
  await startTelemetry({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  sims = await startSims();
  temp = await TempFlags.create({ [flagName(S, 'dual-write')]: { enabled: true }, [flagName(S, 'shadow-read')]: { enabled: true, rollout: 100 } });
  proxy = await startProxy(configFor(sims, await freshDatabaseUrl()), { flags: await temp.open() });
});
afterAll(async () => {
  await proxy?.close();
  await proxy?.store.close();
  await temp?.dispose();
  await sims?.close();
});

const waitFor = async (ok: () => boolean | Promise<boolean>, ms = 5000) => {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
};

it('serves the documented series at GET /metrics', async () => {
  // Known only to legacy: the shadow read on new differs in "memories".
  sims.models[S].handle({ action: 'add_memory', user_id: 'legacy-only', memory: 'm' });
  await requestOnce(proxy.fronts[S]!, { action: 'get_memories', user_id: 'legacy-only' });
  await requestOnce(proxy.fronts[S]!, { action: 'get_memories', user_id: 'nobody' });
  const scrape = async () => (await fetch(`${proxy.httpUrl}/metrics`)).text();
  await waitFor(async () => /memshift_comparisons_total\{[^}]*outcome="mismatch"/.test(await scrape()));
  const res = await fetch(`${proxy.httpUrl}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  const text = await res.text();
  const series = (name: string, labels: Record<string, string>) =>
    new RegExp(
      `^${name}\\{[^}]*${Object.entries(labels)
        .map(([k, v]) => `${k}="${v}"`)
        .join('[^}]*')}[^}]*\\} [0-9.e+]+`,
      'm',
    );
  expect(text).toMatch(series('memshift_requests_total', { service: S, action: 'get_memories', outcome: 'ok' }));
  expect(text).toMatch(series('memshift_leg_duration_ms_bucket', { service: S, action: 'get_memories', side: 'legacy', outcome: 'ok' }));
  expect(text).toMatch(series('memshift_leg_duration_ms_bucket', { service: S, action: 'get_memories', side: 'new', outcome: 'ok' }));
  expect(text).toMatch(series('memshift_comparisons_total', { service: S, action: 'get_memories', outcome: 'match' }));
  expect(text).toMatch(series('memshift_mismatches_total', { service: S, action: 'get_memories', path: 'memories\\[\\]' }));
  expect(text).toMatch(/^memshift_outbox_depth(\{[^}]*\})? \d+/m);
  expect(text).toMatch(series('memshift_flag_enabled', { flag: flagName(S, 'shadow-read'), service: S }));
  expect(text).toMatch(series('memshift_flag_rollout', { flag: flagName(S, 'shadow-read') }));
  expect(text).toMatch(series('memshift_stage', { service: S, stage: 'shadow' }));
  expect(text).toMatch(series('memshift_guard_tripped', { service: S }));
});

it('continues a W3C trace from the HTTP front, with a child span per leg', async () => {
  spans.reset();
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const res = await fetch(`${proxy.httpUrl}/v1/${S}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    body: JSON.stringify({ action: 'get_memories', user_id: 'traced' }),
  });
  expect(res.status).toBe(200);
  // The shadow leg may end after the reply, and after the A/A read when the noise baseline samples this one.
  const mine = () => spans.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
  const requestSpan = () => mine().find((s) => s.attributes['memshift.outcome'] === 'ok' && s.attributes['memshift.side'] === undefined);
  await waitFor(() => requestSpan() !== undefined && mine().some((s) => s.attributes['memshift.side'] === 'new'));
  const request = requestSpan()!;
  expect(request.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
  expect(request.attributes).toMatchObject({ 'memshift.service': S, 'memshift.action': 'get_memories' });
  const legs = mine().filter((s) => s.parentSpanContext?.spanId === request.spanContext().spanId);
  // Legacy's, the new side's, and (when the noise baseline samples this read) legacy's second A/A read.
  const sides = legs.map((s) => s.attributes['memshift.side']).sort();
  expect(sides.filter((s) => s === 'new')).toHaveLength(1);
  expect(sides.filter((s) => s === 'legacy').length).toBeGreaterThanOrEqual(1);
  expect(sides.length).toBeLessThanOrEqual(3);
  for (const leg of legs) expect(leg.attributes).toMatchObject({ 'memshift.service': S, 'memshift.action': 'get_memories', 'memshift.outcome': 'ok' });
});
