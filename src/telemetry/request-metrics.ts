/**
 * The two metrics recorded on every request (requests handled, leg durations), kept in plain maps and
 * handed to the OTel readers at collection time as a MetricProducer. An SDK instrument hashes its
 * attributes on every call, which cost the proxy a tenth of its throughput; here a request costs one
 * map lookup by a key string.
 */
import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, type CollectionResult, type MetricProducer } from '@opentelemetry/sdk-metrics';

const LATENCY_BUCKETS_MS = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

interface Count {
  attributes: Attributes;
  n: number;
}

interface Buckets {
  attributes: Attributes;
  /** One more than the boundaries: the last counts what lies above the top boundary. */
  counts: number[];
  sum: number;
  count: number;
  min: number;
  max: number;
}

const requests = new Map<string, Count>();
const legs = new Map<string, Buckets>();
const hrNow = (): HrTime => {
  const ms = Date.now();
  return [Math.floor(ms / 1000), (ms % 1000) * 1e6];
};
// Cumulative since the process started recording.
const startTime = hrNow();

export function countRequest(service: string, action: string, outcome: string): void {
  const key = `${service}|${action}|${outcome}`;
  const counted = requests.get(key);
  if (counted) counted.n++;
  else requests.set(key, { attributes: { service, action, outcome }, n: 1 });
}

/** One call to one side: the legacy leg, or the whole translation on the new side. */
export function recordLeg(service: string, action: string, side: string, outcome: string, ms: number): void {
  const key = `${service}|${action}|${side}|${outcome}`;
  let b = legs.get(key);
  if (!b) {
    b = {
      attributes: { service, action, side, outcome },
      counts: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0),
      sum: 0,
      count: 0,
      min: Infinity,
      max: -Infinity,
    };
    legs.set(key, b);
  }
  let i = 0;
  while (i < LATENCY_BUCKETS_MS.length && ms > LATENCY_BUCKETS_MS[i]!) i++;
  b.counts[i]!++;
  b.sum += ms;
  b.count++;
  if (ms < b.min) b.min = ms;
  if (ms > b.max) b.max = ms;
}

/** The producer every metric reader of the process is given (the resource is the SDK's own). */
export function requestMetricsProducer(resource: Resource): MetricProducer {
  return {
    async collect(): Promise<CollectionResult> {
      const endTime = hrNow();
      return {
        errors: [],
        resourceMetrics: {
          resource,
          scopeMetrics: [
            {
              scope: { name: 'memshift' },
              metrics: [
                {
                  descriptor: {
                    name: 'memshift.requests',
                    description: 'Requests handled, by service, action and outcome',
                    unit: '',
                    valueType: ValueType.INT,
                  },
                  aggregationTemporality: AggregationTemporality.CUMULATIVE,
                  dataPointType: DataPointType.SUM,
                  isMonotonic: true,
                  dataPoints: [...requests.values()].map((c) => ({ startTime, endTime, attributes: c.attributes, value: c.n })),
                },
                {
                  descriptor: {
                    name: 'memshift.leg.duration_ms',
                    description: 'One call to one side (legacy leg, or the whole translation on the new side)',
                    unit: 'ms',
                    valueType: ValueType.DOUBLE,
                  },
                  aggregationTemporality: AggregationTemporality.CUMULATIVE,
                  dataPointType: DataPointType.HISTOGRAM,
                  dataPoints: [...legs.values()].map((b) => ({
                    startTime,
                    endTime,
                    attributes: b.attributes,
                    value: { buckets: { boundaries: LATENCY_BUCKETS_MS, counts: [...b.counts] }, sum: b.sum, count: b.count, min: b.min, max: b.max },
                  })),
                },
              ],
            },
          ],
        },
      };
    },
  };
}
