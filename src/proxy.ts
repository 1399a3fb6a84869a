/**
 * Assembles a running memshift: legs to every backend, the pipeline, the ZeroMQ fronts and the HTTP
 * front. `startProxy` is what `memshift serve`, the demo, the bench and the tests all call.
 */
import type { AddressInfo } from 'node:net';
import type { Config } from './config.js';
import { newBackendOf, serviceConfigOf } from './config.js';
import { serviceNames, type ServiceName } from './services/registry.js';
import { createLeg } from './legs/index.js';
import type { Leg } from './legs/types.js';
import { Pipeline } from './fronts/answer.js';
import { createEngine, type Engine } from './plan/wiring.js';
import type { ExecutionObserver } from './plan/observer.js';
import type { Side } from './plan/plan.js';
import { serviceSnapshot, type Flags } from './flags/source.js';
import { STAGE_PLANS } from './flags/stage.js';
import type { Store } from './store/index.js';
import { ZmqFront } from './fronts/zmq-front.js';
import { buildHttpFront } from './fronts/http-front.js';
import { HealthChecker, type ProbedBackend } from './fronts/health.js';
import { Outbox } from './outbox/outbox.js';
import { barrierPingsFor, primaryBudgetMs } from './outbox/resolve.js';
import { startReconcileSchedule } from './reconcile/schedule.js';
import { childLogger } from './telemetry/log.js';
import { addGaugeSource, metricsObserver, startTelemetry } from './telemetry/index.js';
import { Guard } from './guard/guard.js';
import { GuardEvents } from './guard/events.js';
import { UnleashAdmin } from './admin/unleash-admin.js';
import type { AdminRoutes } from './admin/auth.js';
import { statusRoutes } from './admin/status.js';
import { DailyReporter } from './report/job.js';
import { reportRoutes } from './report/routes.js';
import { openFlagsFor, openStoreFor } from './store/open.js';

const log = childLogger('proxy');

export interface Proxy {
  /** Where agents connect, per service (the bound ZeroMQ endpoints). */
  fronts: Partial<Record<ServiceName, string>>;
  httpUrl: string;
  legs: { legacy: Partial<Record<ServiceName, Leg>>; orchestrator: Leg };
  engine: Engine;
  flags: Flags;
  store: Store;
  /** Absent when config.guard.enabled is false. */
  guard?: Guard;
  guardEvents: GuardEvents;
  /** Writes the daily report (on demand, and each day that ends when config.report.enabled). */
  reporter: DailyReporter;
  close(): Promise<void>;
}

/** Parts a caller may bring already open (it then closes them itself); the rest come from config. */
export interface ProxyParts {
  flags?: Flags;
  store?: Store;
  observers?: Partial<ExecutionObserver>[];
  /** More routes under /admin (same bearer token). */
  adminRoutes?: AdminRoutes[];
}

export async function startProxy(config: Config, parts: ProxyParts = {}): Promise<Proxy> {
  const store = parts.store ?? (await openStoreFor(config));
  let flags: Flags;
  try {
    flags = parts.flags ?? (await openFlagsFor(config));
  } catch (err) {
    if (!parts.store) await store.close();
    throw err;
  }
  const ownedClose = async () => {
    if (!parts.flags) await flags.close();
    if (!parts.store) await store.close();
  };
  const services = serviceNames().filter((s) => serviceConfigOf(config, s).enabled);
  const legOf = (b: Config['orchestrator']) => createLeg(b.endpoint, { timeoutMs: b.timeoutMs, maxInFlight: b.maxInFlight, breaker: config.breaker });
  const legacy: Partial<Record<ServiceName, Leg>> = {};
  for (const s of services) legacy[s] = legOf(serviceConfigOf(config, s).legacy);
  const orchestrator = legOf(config.orchestrator);
  const newLegs = new Map<string, Leg>([[config.orchestrator.endpoint, orchestrator]]);
  const newLegOf: Partial<Record<ServiceName, Leg>> = {};
  const allLegs = (): Leg[] => [...Object.values(legacy).filter((l) => l !== undefined), ...newLegs.values()];
  for (const s of services) {
    const b = newBackendOf(config, s);
    if (!newLegs.has(b.endpoint)) newLegs.set(b.endpoint, legOf(b));
    newLegOf[s] = newLegs.get(b.endpoint)!;
  }

  const telemetry = await startTelemetry({ serviceName: config.telemetry.serviceName, maxMismatchPaths: config.telemetry.maxMismatchPaths });
  const guardEvents = new GuardEvents(store.pool);
  const unleashAdmin =
    config.flags.url && config.flags.adminToken
      ? new UnleashAdmin({ url: config.flags.url, token: config.flags.adminToken, project: config.flags.project, environment: config.flags.environment })
      : undefined;
  const guard = config.guard.enabled ? new Guard({ config: config.guard, flags, services, events: guardEvents, unleash: unleashAdmin }).start() : undefined;
  const engine = createEngine({
    config,
    flags,
    store,
    legacyLegs: legacy,
    newLegs: newLegOf,
    observers: [metricsObserver, ...(guard ? [guard.observer] : []), ...(parts.observers ?? [])],
    ...(config.outbox.enabled
      ? {
          secondary: (apply, observer, sides) =>
            new Outbox({
              pool: store.pool,
              apply,
              sides,
              barrierPings: barrierPingsFor(config),
              primaryBudgetMs: primaryBudgetMs(config),
              observer,
              services,
              config: config.outbox,
              probe: (side) => answers(side),
            }).start(),
        }
      : {}),
  });
  const reporter = new DailyReporter({ config, store, flags, services });
  const pipeline = new Pipeline({
    maxRequestBytes: config.zmq.maxFrameBytes,
    execute: (route) => engine.executor.execute(route),
  });

  // Legacy is on the agents' path until the orchestrator is written first (new-primary); then it is the secondary.
  const legacyServes = (s: ServiceName) => () => !STAGE_PLANS[serviceSnapshot(flags.snapshot(), s).stage].newPrimary;
  const legacyProbes: ProbedBackend[] = services.map((s) => ({ name: s, leg: legacy[s]!, critical: legacyServes(s), probe: '{"action": "health_check"}' }));
  const newProbes: ProbedBackend[] = [...newLegs.entries()].map(([endpoint, leg]) => ({
    name: endpoint === config.orchestrator.endpoint ? 'orchestrator' : `orchestrator ${endpoint}`,
    leg,
    // Agents read from it at new-primary and later: a service there makes it critical.
    critical: () => services.some((s) => newLegOf[s] === leg && STAGE_PLANS[serviceSnapshot(flags.snapshot(), s).stage].newPrimary),
    probe: '{"action": "health_check", "request_id": "req-health00"}',
  }));
  const probes = [...legacyProbes, ...newProbes];

  // Any one backend of a side answering its health check means that side is back.
  const answers = async (side: Side) => {
    const calls = (side === 'legacy' ? legacyProbes : newProbes).map((p) => p.leg.call(p.probe, { timeoutMs: 1000 }));
    return (await Promise.allSettled(calls)).some((r) => r.status === 'fulfilled');
  };

  const fronts = services.map(
    (service) =>
      new ZmqFront({
        service,
        bind: serviceConfigOf(config, service).front,
        pipeline,
        hardLimitBytes: Math.max(config.zmq.maxFrameBytes * 4, 16 * 1024 * 1024),
      }),
  );
  let ready = false;
  const http = buildHttpFront({
    host: config.http.host,
    port: config.http.port,
    bodyLimitBytes: config.http.bodyLimitBytes,
    pipeline,
    // The store down pauses durable secondary writes (held in memory) but not the agents: degraded.
    health: new HealthChecker(probes, undefined, [
      { name: 'state store', critical: () => false, endpoint: 'postgresql', check: () => store.pool.query('SELECT 1') },
    ]),
    isReady: () => ready,
    metricsText: () => telemetry.metricsText(),
    admin: {
      token: config.admin.token,
      routes: [
        statusRoutes({ flags, services, guard, events: guardEvents, outbox: () => engine.secondary.stats() }),
        reportRoutes(reporter),
        ...(parts.adminRoutes ?? []),
      ],
    },
  });
  const removeGauges = addGaugeSource({ flags: () => flags.snapshot(), outbox: () => engine.secondary.stats(), tripped: () => guard?.tripped() ?? [] });

  try {
    await Promise.all(fronts.map((f) => f.start()));
    await http.listen({ host: config.http.host, port: config.http.port });
  } catch (err) {
    await Promise.allSettled([...fronts.map((f) => f.close()), http.close(), engine.secondary.close(), guard?.close()]);
    removeGauges();
    // Legs last: the outbox may still have been using them. Their sockets would keep the process alive.
    await Promise.allSettled(allLegs().map((l) => l.close()));
    await ownedClose();
    throw err;
  }
  ready = true;
  if (config.report.enabled) reporter.start();
  const reconcileSchedule = startReconcileSchedule(config, store, flags);
  const addr = http.server.address() as AddressInfo;
  const httpUrl = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  const frontEndpoints = Object.fromEntries(fronts.map((f, i) => [services[i]!, f.endpoint]));
  log.info({ fronts: frontEndpoints, http: httpUrl }, 'memshift proxy listening');

  return {
    fronts: frontEndpoints,
    httpUrl,
    legs: { legacy, orchestrator },
    engine,
    flags,
    store,
    ...(guard ? { guard } : {}),
    guardEvents,
    reporter,
    async close() {
      ready = false;
      await http.close();
      await Promise.allSettled(fronts.map((f) => f.close()));
      // Secondary writes already begun finish before the legs go; the outbox keeps the rest for later.
      await engine.secondary.close();
      removeGauges();
      await guard?.close();
      await reconcileSchedule?.stop();
      await reporter.close();
      await Promise.allSettled(allLegs().map((l) => l.close()));
      await ownedClose();
    },
  };
}
