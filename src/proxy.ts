/**
 * Assembles a running memshift: legs to every backend, the runner, the ZeroMQ fronts and the HTTP front,
 * and the background parts (guard, report, reconcile schedule, admin status) as a list. `startProxy` is what `memshift serve`, the demo, the bench and the tests all call.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.js';
import { callOptionsOf, newBackendOf, serviceConfigOf } from './config.js';
import { serviceNames, type ServiceName } from './services/registry.js';
import { HEALTH_CHECK } from './services/health-check.js';
import { createLeg } from './legs/index.js';
import type { Leg } from './legs/types.js';
import { frameHandler } from './fronts/frames.js';
import { createRunner } from './plan/wiring.js';
import type { Runner } from './plan/runner.js';
import { gaugeSecondaryWrites, metricsObserver } from './plan/metrics.js';
import { gaugeFlags, gaugeUnleash } from './flags/metrics.js';
import type { Part, PartContext } from './part.js';
import type { ExecutionObserver } from './plan/observer.js';
import type { Side } from './plan/plan.js';
import { serviceSnapshot, type Flags } from './flags/source.js';
import { STAGE_PLANS } from './flags/stage.js';
import type { Store } from './store/index.js';
import { ZmqFront } from './fronts/zmq-front.js';
import { buildHttpFront } from './fronts/http-front.js';
import { HealthChecker, probe, type ProbedBackend } from './fronts/health.js';
import { Outbox } from './outbox/outbox.js';
import { barrierPingsFor, primaryBudgetMs } from './outbox/resolve.js';
import { fleetSettingsFor } from './outbox/fleet.js';
import { heldFileOf } from './outbox/held-file.js';
import { ownerName } from './outbox/owner-lock.js';
import { sideGapsPart } from './guard/side-gaps.js';
import { reconcilePart } from './reconcile/part.js';
import { childLogger } from './telemetry/log.js';
import { startTelemetry } from './telemetry/index.js';
import type { Guard } from './guard/guard.js';
import type { GuardEvents } from './guard/events.js';
import { guardPart } from './guard/part.js';
import { registerAdmin, type AdminRoutes } from './admin/auth.js';
import { registerDashboard } from './dashboard/routes.js';
import { statusPart } from './admin/status.js';
import type { DailyReporter } from './report/job.js';
import { reportPart } from './report/part.js';
import { openFlagsFor, openStoreFor } from './store/open.js';
import { bindAny, localHost } from './util/any-address.js';

const log = childLogger('proxy');
/** A part of a shutdown still closing after this long is named in the log (and again each time as long again). */
const CLOSE_WARN_MS = 10_000;

export interface Proxy {
  /** Where agents connect, per service (the bound ZeroMQ endpoints). */
  fronts: Partial<Record<ServiceName, string>>;
  httpUrl: string;
  legs: { legacy: Partial<Record<ServiceName, Leg>>; orchestrator: Leg };
  runner: Runner;
  flags: Flags;
  store: Store;
  /** Absent when config.guard.enabled is false. */
  guard?: Guard;
  guardEvents: GuardEvents;
  /** Writes the daily report (on demand, and each day that ends when config.report.enabled). */
  reporter: DailyReporter;
  /** Shutdown's first step: /readyz answers 503 and the fronts keep answering for `ms`, or until `cut` settles. */
  drain(ms: number, cut?: Promise<unknown>): Promise<void>;
  close(): Promise<void>;
  /** While close() runs: the part it waits on. */
  readonly closing: string | undefined;
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
  // A store out of reach is an outage like any later one: the agents are served meanwhile.
  const store = parts.store ?? (await openStoreFor(config, 'wait'));
  let flags: Flags;
  try {
    flags = parts.flags ?? (await openFlagsFor(config, store));
  } catch (err) {
    if (!parts.store) await store.close();
    throw err;
  }
  const ownedClose = async () => {
    if (!parts.flags) await flags.close();
    if (!parts.store) await store.close();
  };
  const services = serviceNames().filter((s) => serviceConfigOf(config, s).enabled);
  const legOf = (b: Config['orchestrator'], side: Side, waitForConnection = false) =>
    createLeg(b.endpoint, { ...callOptionsOf(config, b, side), maxInFlight: b.maxInFlight, waitForConnection });
  const legacy: Partial<Record<ServiceName, Leg>> = {};
  // Agents talk to legacy through memshift as they would directly: a service not (yet, or again) there is waited for.
  for (const s of services) legacy[s] = legOf(serviceConfigOf(config, s).legacy, 'legacy', true);
  const orchestrator = legOf(config.orchestrator, 'new');
  const newLegs = new Map<string, Leg>([[config.orchestrator.endpoint, orchestrator]]);
  const newLegOf: Partial<Record<ServiceName, Leg>> = {};
  const allLegs = (): Leg[] => [...Object.values(legacy).filter((l) => l !== undefined), ...newLegs.values()];
  for (const s of services) {
    const b = newBackendOf(config, s);
    if (!newLegs.has(b.endpoint)) newLegs.set(b.endpoint, legOf(b, 'new'));
    newLegOf[s] = newLegs.get(b.endpoint)!;
  }

  const telemetry = await startTelemetry({ serviceName: config.telemetry.serviceName });
  // The parts are made before the runner (it takes their observers); they reach its figures once it exists.
  const made: { runner?: Runner } = {};
  const ctx: PartContext = {
    config,
    replica: `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    store,
    flags,
    services,
    secondaryStats: () => made.runner!.secondary.stats(),
    totals: (s) => made.runner!.stats.of(s),
  };
  // The background parts, in the order they start (and the reverse of the order they close).
  const guarding = guardPart(ctx);
  const reporting = reportPart(ctx);
  // The settings the replicas must share, where they matter: the durable outbox's order and barriers.
  const owner = ownerName();
  const stages = () => Object.fromEntries(services.map((s) => [s, serviceSnapshot(flags.snapshot(), s).stage]));
  const fleet = config.outbox.enabled ? fleetSettingsFor(config, store.pool, services, stages, owner) : undefined;
  if (fleet) store.keyLocks.countPeers(() => fleet.peers());
  const bgParts: Part[] = [
    guarding,
    reporting,
    reconcilePart(ctx),
    sideGapsPart(ctx),
    ...(fleet ? [{ name: 'fleet settings', start: () => void fleet.start(), close: async () => fleet.close() }] : []),
    statusPart(ctx, { guard: guarding.guard, events: guarding.events, ...(fleet ? { fleet } : {}) }),
    { name: 'admin routes', routes: parts.adminRoutes ?? [] },
  ];
  const run = (made.runner = createRunner({
    config,
    flags,
    store,
    legacyLegs: legacy,
    newLegs: newLegOf,
    observers: [metricsObserver(config.telemetry.maxMismatchPaths), ...bgParts.flatMap((p) => (p.observer ? [p.observer] : [])), ...(parts.observers ?? [])],
    ...(fleet
      ? {
          fleet: { apart: (s: ServiceName) => fleet.stageApart(s), peers: () => fleet.peers() },
          secondary: (apply, observer, sides) =>
            new Outbox({
              pool: store.pool,
              apply,
              sides,
              barrierPings: fleet.barrierPings(barrierPingsFor(config)),
              peers: () => fleet.peers(),
              primaryBudgetMs: primaryBudgetMs(config),
              observer,
              services,
              config: config.outbox,
              probe: (side) => answers(side),
              connectionLossMs: config.store.connectionLossMs,
              owner,
              ...heldFileOf(config),
            }).start(),
        }
      : {}),
  }));
  const handle = frameHandler(
    config.zmq.maxFrameBytes,
    (route) => run.run(route),
    (service, action, outcome) => store.served.count(service, action, outcome),
  );
  const removeGauges = [gaugeSecondaryWrites(() => run.secondary.stats()), gaugeFlags(() => flags.snapshot()), gaugeUnleash(flags)];
  /** The part a shutdown waits on: named in the log each CLOSE_WARN_MS it lasts (a shutdown that hangs says where). */
  let closing: string | undefined;
  const closePart = async (name: string, work: () => Promise<unknown>) => {
    closing = name;
    const warn = setInterval(() => log.warn({ part: name }, 'shutdown still waiting for a part to close'), CLOSE_WARN_MS).unref();
    try {
      await work();
    } finally {
      clearInterval(warn);
    }
  };
  const closeParts = async () => {
    for (const p of [...bgParts].reverse())
      await closePart(p.name, async () => p.close?.().catch((err: unknown) => log.error({ err, part: p.name }, 'part failed to close')));
    removeGauges.forEach((remove) => remove());
  };

  // Legacy is on the agents' path until the orchestrator is written first (new-primary); then it is the secondary.
  const legacyServes = (s: ServiceName) => () => !STAGE_PLANS[serviceSnapshot(flags.snapshot(), s).stage].newPrimary;
  const legacyProbes: ProbedBackend[] = services.map((s) => ({ name: s, leg: legacy[s]!, critical: legacyServes(s), probe: HEALTH_CHECK.legacy }));
  const newProbes: ProbedBackend[] = [...newLegs.entries()].map(([endpoint, leg]) => ({
    name: endpoint === config.orchestrator.endpoint ? 'orchestrator' : `orchestrator ${endpoint}`,
    leg,
    // Agents read from it at new-primary and later: a service there makes it critical.
    critical: () => services.some((s) => newLegOf[s] === leg && STAGE_PLANS[serviceSnapshot(flags.snapshot(), s).stage].newPrimary),
    probe: HEALTH_CHECK.new,
  }));
  const probes = [...legacyProbes, ...newProbes];

  // Any one backend of a side answering its health check within its leg's deadline (as /healthz) means that side is back.
  const answers = async (side: Side) => (await Promise.all((side === 'legacy' ? legacyProbes : newProbes).map(probe))).some((h) => h.ok);

  const fronts = services.map(
    (service) =>
      new ZmqFront({
        service,
        bind: serviceConfigOf(config, service).front,
        handle,
        hardLimitBytes: Math.max(config.zmq.maxFrameBytes * 4, 16 * 1024 * 1024),
      }),
  );
  let ready = false;
  const http = buildHttpFront({
    host: config.http.host,
    port: config.http.port,
    bodyLimitBytes: config.http.bodyLimitBytes,
    handle,
    // The store down pauses durable secondary writes (held in memory) but not the agents: degraded.
    health: new HealthChecker(probes, [{ name: 'state store', critical: () => false, endpoint: 'postgresql', check: () => storeAnswers(store) }]),
    isReady: () => ready,
    metricsText: () => telemetry.metricsText(),
  });

  // Every part's admin routes behind the bearer token; without a token they are not registered (404).
  const adminRoutes = bgParts.flatMap((p) => p.routes ?? []);
  registerAdmin(http, config.admin.token, adminRoutes);
  // The console at GET /: the same routes behind a session cookie, plus the controls (off without a token).
  registerDashboard(http, config.admin.token, { config, store, flags, routes: adminRoutes });

  try {
    // No agent's write before the other replicas know of this one (src/outbox/fleet.ts introduce()).
    await fleet?.introduce();
    await Promise.all(fronts.map((f) => f.start()));
    await bindAny(config.http.host, (host) => http.listen({ host, port: config.http.port }));
  } catch (err) {
    await Promise.allSettled([...fronts.map((f) => f.close()), http.close(), run.secondary.close()]);
    await closeParts();
    // Legs last: the outbox may still have been using them. Their sockets would keep the process alive.
    await Promise.allSettled(allLegs().map((l) => l.close()));
    await ownedClose();
    throw err;
  }
  ready = true;
  for (const p of bgParts) p.start?.();
  const addr = http.server.address() as AddressInfo;
  const host = localHost(addr.address);
  const httpUrl = `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`;
  const frontEndpoints = Object.fromEntries(fronts.map((f, i) => [services[i]!, f.endpoint]));
  log.info({ fronts: frontEndpoints, http: httpUrl }, 'memshift proxy listening');

  return {
    fronts: frontEndpoints,
    httpUrl,
    legs: { legacy, orchestrator },
    runner: run,
    flags,
    store,
    ...(guarding.guard ? { guard: guarding.guard } : {}),
    guardEvents: guarding.events,
    reporter: reporting.reporter,
    async drain(ms, cut) {
      ready = false;
      log.info({ ms }, 'draining: not ready, still answering');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise((r) => (timer = setTimeout(r, ms))), cut]);
      clearTimeout(timer);
    },
    get closing() {
      return closing;
    },
    async close() {
      ready = false;
      await closePart('http', () => http.close());
      await closePart('fronts', () => Promise.allSettled(fronts.map((f) => f.close())));
      // Secondary writes already begun finish before the legs go; the outbox keeps the rest for later.
      await closePart('secondary writes', () => run.secondary.close());
      run.close();
      await closeParts();
      await closePart('legs', () => Promise.allSettled(allLegs().map((l) => l.close())));
      await closePart('flags and state store', ownedClose);
      closing = undefined;
    },
  };
}

/** The state store answers, and its tables are known to be there (made at start, or since: whenAway 'wait'). */
async function storeAnswers(store: Store): Promise<unknown> {
  const why = store.pending();
  if (why) throw new Error(`its tables are not made yet: ${why.message}`);
  return store.pool.query('SELECT 1');
}
