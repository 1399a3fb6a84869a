/**
 * The HTTP front (fastify): `POST /v1/:service` takes the legacy request as its body and answers with
 * the legacy reply bytes; `/healthz` and `/readyz` for orchestration; `/metrics` (Prometheus) and `/admin`.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { isServiceName } from '../services/registry.js';
import type { FrameHandler, OutcomeKind } from './frames.js';
import type { HealthChecker } from './health.js';
import { contextFromHeaders, withContext } from '../telemetry/tracing.js';

const STATUS: Record<OutcomeKind, number> = { ok: 200, bad_request: 400, backend_error: 502 };

export interface HttpFrontOptions {
  host: string;
  port: number;
  bodyLimitBytes: number;
  handle: FrameHandler;
  health: HealthChecker;
  isReady: () => boolean;
  /** Prometheus text for GET /metrics; without it the route is absent. */
  metricsText?: () => Promise<string>;
}

export function buildHttpFront(opts: HttpFrontOptions): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: opts.bodyLimitBytes });
  // The body goes through untouched: the frame handler validates it, so both fronts reject bad input alike.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.post<{ Params: { service: string } }>('/v1/:service', async (req, reply) => {
    const { service } = req.params;
    if (!isServiceName(service)) {
      return reply.code(404).send({ status: 'error', message: `memshift: unknown service "${service}"` });
    }
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    // A caller's W3C trace context makes the request span part of its trace.
    const outcome = await withContext(contextFromHeaders(req.headers), () => opts.handle(service, body));
    return reply.code(STATUS[outcome.kind]).type('application/json').send(outcome.reply);
  });

  app.get('/healthz', async (_req, reply) => {
    const report = await opts.health.check();
    return reply.code(report.status === 'unhealthy' ? 503 : 200).send(report);
  });

  app.get('/readyz', async (_req, reply) => (opts.isReady() ? reply.send({ ready: true }) : reply.code(503).send({ ready: false })));

  const metricsText = opts.metricsText;
  if (metricsText) {
    app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(await metricsText()));
  }

  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    return reply.code(status).send({ status: 'error', code: err.code ?? 'internal_error', message: `memshift: ${err.message}` });
  });
  return app;
}
