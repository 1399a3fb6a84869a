/**
 * The process's OpenTelemetry SDK: a tracer provider (W3C propagation, async context), a meter provider
 * read by Prometheus at GET /metrics, and OTLP export of both when OTEL_EXPORTER_OTLP_ENDPOINT is set.
 * One per process, like the OTel globals it installs; every proxy in the process shares it.
 */
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { childLogger } from './log.js';
import { resetInstruments } from './metrics.js';
import { requestMetricsProducer } from './request-metrics.js';
import { enableSpans } from './tracing.js';

const log = childLogger('telemetry');

export interface TelemetryOptions {
  serviceName?: string;
  /** OTLP/HTTP base URL; default OTEL_EXPORTER_OTLP_ENDPOINT. Without one, nothing is exported (Prometheus still scrapes). */
  otlpEndpoint?: string;
  metricsExportIntervalMs?: number;
  /** Extra span processors (tests read spans through an in-memory exporter). */
  spanProcessors?: SpanProcessor[];
  env?: NodeJS.ProcessEnv;
}

export interface Telemetry {
  /** Current metrics in the Prometheus text format. */
  metricsText(): Promise<string>;
  shutdown(): Promise<void>;
}

let running: Promise<Telemetry> | undefined;

/** Starts the SDK once per process; later calls get the running one (their options are ignored). */
export function startTelemetry(opts: TelemetryOptions = {}): Promise<Telemetry> {
  return (running ??= start(opts));
}

async function start(opts: TelemetryOptions): Promise<Telemetry> {
  const env = opts.env ?? process.env;
  const endpoint = opts.otlpEndpoint ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const resource = resourceFromAttributes({ [ATTR_SERVICE_NAME]: opts.serviceName ?? env.OTEL_SERVICE_NAME ?? 'memshift' });

  const metricProducers = [requestMetricsProducer(resource)];
  const prometheus = new PrometheusExporter({ preventServerStart: true, metricProducers });
  const readers: IMetricReader[] = [prometheus];
  const spanProcessors = [...(opts.spanProcessors ?? [])];
  if (endpoint) {
    // Loaded only when asked for: most runs never export.
    const [{ OTLPTraceExporter }, { OTLPMetricExporter }] = await Promise.all([
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/exporter-metrics-otlp-http'),
    ]);
    const base = endpoint.replace(/\/+$/, '');
    spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: `${base}/v1/traces` })));
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: `${base}/v1/metrics` }),
        exportIntervalMillis: opts.metricsExportIntervalMs ?? 15_000,
        metricProducers,
      }),
    );
    log.info({ endpoint: base }, 'exporting traces and metrics over OTLP');
  }

  const tracerProvider = new NodeTracerProvider({ resource, spanProcessors });
  // Installs the AsyncLocalStorage context manager and the W3C trace-context propagator, but only when spans
  // go somewhere: recording spans nobody exports costs the proxy about a fifth of its throughput.
  if (spanProcessors.length) {
    tracerProvider.register();
    enableSpans();
  }
  const meterProvider = new MeterProvider({ resource, readers });
  metrics.setGlobalMeterProvider(meterProvider);
  resetInstruments();

  const serializer = new PrometheusSerializer();
  return {
    async metricsText() {
      const { resourceMetrics, errors } = await prometheus.collect();
      if (errors.length) log.warn({ errors: errors.map(String) }, 'metric collection errors');
      return serializer.serialize(resourceMetrics);
    },
    async shutdown() {
      await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown()]);
    },
  };
}

/** Flushes pending exports; for process exit. */
export async function shutdownTelemetry(): Promise<void> {
  await (await running)?.shutdown();
}
