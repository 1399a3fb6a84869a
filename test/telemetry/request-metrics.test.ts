// The request-path metrics are aggregated by hand, so their histogram must follow OTel's rules: one count
// per bucket (exporters make them cumulative), a value on a boundary counts in that bucket, and one
// bucket more than boundaries for what lies above the top.
import { resourceFromAttributes } from '@opentelemetry/resources';
import { DataPointType, type HistogramMetricData, type SumMetricData } from '@opentelemetry/sdk-metrics';
import { expect, it } from 'vitest';
import { countRequest, recordLeg, requestMetricsProducer } from '../../src/telemetry/request-metrics.js';

it('counts requests and buckets leg durations per attribute set', async () => {
  // A service name of its own: the maps are process-wide and other tests record into them.
  const service = `test-${process.pid}`;
  for (const ms of [0.2, 1, 1.5, 7, 99999]) recordLeg(service, 'get_context', 'legacy', 'ok', ms);
  recordLeg(service, 'get_context', 'new', 'timeout', 2000);
  countRequest(service, 'get_context', 'ok');
  countRequest(service, 'get_context', 'ok');
  countRequest(service, 'add_interaction', 'backend_error');

  const { resourceMetrics } = await requestMetricsProducer(resourceFromAttributes({})).collect();
  const metrics = resourceMetrics.scopeMetrics[0]!.metrics;
  const requests = metrics.find((m) => m.descriptor.name === 'memshift.requests') as SumMetricData;
  const legs = metrics.find((m) => m.descriptor.name === 'memshift.leg.duration_ms') as HistogramMetricData;
  expect(requests.dataPointType).toBe(DataPointType.SUM);
  expect(requests.isMonotonic).toBe(true);
  const mine = requests.dataPoints.filter((p) => p.attributes.service === service);
  expect(mine.map((p) => [p.attributes.action, p.attributes.outcome, p.value])).toEqual([
    ['get_context', 'ok', 2],
    ['add_interaction', 'backend_error', 1],
  ]);

  const legacy = legs.dataPoints.find((p) => p.attributes.service === service && p.attributes.side === 'legacy')!;
  const { boundaries, counts } = legacy.value.buckets;
  expect(boundaries.slice(0, 4)).toEqual([0.5, 1, 2, 5]);
  // 0.2 -> le 0.5; 1 -> le 1 (on the boundary); 1.5 -> le 2; 7 -> le 10; 99999 -> above the top.
  expect(counts).toEqual([1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  expect(legacy.value).toMatchObject({ count: 5, min: 0.2, max: 99999 });
  expect(legacy.value.sum).toBeCloseTo(0.2 + 1 + 1.5 + 7 + 99999);
  const timedOut = legs.dataPoints.find((p) => p.attributes.service === service && p.attributes.side === 'new')!;
  expect(timedOut.attributes.outcome).toBe('timeout');
  expect(timedOut.value.count).toBe(1);
});
