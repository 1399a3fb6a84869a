/** GET /admin/status, GET /admin/events and the guard / flag controls, as admin routes. */
import type { FastifyInstance } from 'fastify';
import type { SecondaryStats } from '../plan/secondary.js';
import type { ServiceTotals } from '../plan/totals.js';
import { serviceSnapshot, type Flags } from '../flags/source.js';
import type { UnleashFetching } from '../flags/unleash-watch.js';
import { allFlagNames } from '../flags/names.js';
import type { Guard } from '../guard/guard.js';
import type { GuardEvents } from '../guard/events.js';
import { rolledBack } from '../report/format.js';
import { isServiceName, type ServiceName } from '../services/registry.js';
import type { AdminRoutes } from './auth.js';
import type { Part, PartContext } from '../part.js';
import type { SideGap } from '../store/side-gaps.js';
import type { Reached } from '../store/stages-reached.js';
import type { Side } from '../plan/plan.js';

export interface StatusDeps {
  /** The replica answering: behind a Service each request may reach another, with figures of its own. */
  replica: string;
  flags: Flags;
  services: readonly ServiceName[];
  guard?: Guard;
  events: GuardEvents;
  outbox?: () => Promise<SecondaryStats>;
  totals?: (service: ServiceName) => ServiceTotals;
  /** The replicas sharing the store: how many are live, and the shared settings on which they differ from this one. */
  fleet?: { live(): number; disagreements(): string[] };
  gap?: (service: ServiceName, side: Side) => SideGap | undefined;
  /** The furthest stage a service was served at, by any replica. */
  reached?: (service: ServiceName) => Reached | undefined;
}

const pickComparisons = (t: ServiceTotals) => ({
  compared: t.compared,
  mismatches: t.mismatches,
  kinds: t.kinds,
  // Timestamp differences all one offset apart (new minus legacy, seconds): a zone or a clock, not the writes.
  offsets: t.offsets,
  // Reads skipped for a write in flight: re-checked once their key settled, given up, or still waiting.
  skipped: t.skipped,
  rechecked: t.rechecked,
  neverCompared: t.neverCompared,
  // Reads not compared: legacy's reply over shadow.maxCompareBytes.
  tooLarge: t.tooLarge,
  // The A/A noise baseline: pairs read, and differences discounted as noise per field.
  baselineReads: t.baselineReads,
  noise: t.noise,
});

/** The guard's state, and when tripped why, in words (the console shows it): its window starts empty at a trip. */
function guardStatus(guard: Guard | undefined, service: ServiceName) {
  const g = guard?.status(service);
  if (!g) return null;
  const e = g.state === 'tripped' ? g.lastEvent : undefined;
  return { ...g, ...(e ? { why: `${rolledBack(e)}${e.replica ? ` (replica ${e.replica})` : ''}` } : {}) };
}

async function proxyStatus(deps: StatusDeps) {
  const snap = deps.flags.snapshot();
  const overrides = deps.flags.localOverrides();
  const outbox = await deps.outbox?.().catch((err: Error) => ({ error: err.message }));
  return {
    replica: deps.replica,
    flagSource: deps.flags.source,
    // When Unleash last answered this replica's fetches, and why they fail while they do: flags changed in Unleash since do not reach it.
    unleash: unleashFetching(deps.flags.fetching()),
    // memshift's flags Unleash no longer defines (archived, deleted), held at their last definition: they cannot be changed there.
    heldFlags: deps.flags.held().map((h) => ({ flag: h.name, since: h.since.toISOString() })),
    killSwitch: snap.killSwitch,
    outbox: outbox ?? null,
    fleet: deps.fleet ? { live: deps.fleet.live(), disagreements: deps.fleet.disagreements() } : null,
    services: Object.fromEntries(
      deps.services.map((s) => [
        s,
        {
          stage: serviceSnapshot(snap, s).stage,
          flags: serviceSnapshot(snap, s).flags,
          overrides: Object.fromEntries(Object.entries(overrides).filter(([name]) => name in serviceSnapshot(snap, s).flags)),
          guard: guardStatus(deps.guard, s),
          // Since when each side has missed writes (legacy at complete, new under the kill switch or at off again): stale until a repair.
          reached: deps.reached?.(s) ?? null,
          behindSince: { legacy: deps.gap?.(s, 'legacy')?.since.toISOString() ?? null, new: deps.gap?.(s, 'new')?.since.toISOString() ?? null },
          // This process's comparisons since it started, with the kinds of difference found.
          comparisons: deps.totals ? pickComparisons(deps.totals(s)) : null,
          // The outbox is shared by the services; its depth is the instance's.
          outboxDepth: outbox && 'depth' in outbox ? outbox.depth : null,
        },
      ]),
    ),
  };
}

const statusRoutes =
  (deps: StatusDeps): AdminRoutes =>
  (admin: FastifyInstance) => {
    admin.get('/status', async () => proxyStatus(deps));

    admin.get<{ Querystring: { service?: string; limit?: string } }>('/events', async (req) => ({
      events: await deps.events.list({ service: req.query.service, limit: req.query.limit ? Number(req.query.limit) || 100 : 100 }),
    }));

    // Answers with the guard's state before (tripped: it held the service back) and the stage the flags now give it.
    admin.post<{ Params: { service: string } }>('/guard/:service/resume', async (req, reply) => {
      const { service } = req.params;
      const guard = deps.guard;
      const before = isServiceName(service) ? guard?.status(service) : undefined;
      if (!guard || !before || !guard.resume(service as ServiceName))
        return reply.code(404).send({ status: 'error', message: `memshift: no guarded service "${service}"` });
      const s = service as ServiceName;
      return {
        status: 'ok',
        was: before.state,
        lastEvent: before.lastEvent ?? null,
        stage: serviceSnapshot(deps.flags.snapshot(), s).stage,
        guard: guard.status(s),
      };
    });

    // Forces a flag on this instance (true / false) or lets the source decide again (null).
    admin.put<{ Params: { flag: string }; Body: unknown }>('/flags/:flag/override', async (req, reply) => {
      const { flag } = req.params;
      const enabled = (req.body as { enabled?: unknown } | undefined)?.enabled;
      if (!allFlagNames().includes(flag)) return reply.code(404).send({ status: 'error', message: `memshift: unknown flag "${flag}"` });
      if (enabled !== true && enabled !== false && enabled !== null)
        return reply.code(400).send({ status: 'error', message: 'memshift: body must be {"enabled": true|false|null}' });
      deps.flags.setLocalOverride(flag, enabled);
      return { status: 'ok', overrides: deps.flags.localOverrides() };
    });
  };

/** The status routes as a part of the proxy. */
export const statusPart = (ctx: PartContext, guarding: Pick<StatusDeps, 'guard' | 'events' | 'fleet'>): Part => ({
  name: 'admin status',
  routes: [
    statusRoutes({
      replica: ctx.replica,
      flags: ctx.flags,
      services: ctx.services,
      ...guarding,
      outbox: ctx.secondaryStats,
      totals: ctx.totals,
      gap: (s, side) => ctx.store.gaps.of(s, side),
      reached: (s) => ctx.store.reached.of(s),
    }),
  ],
});

const unleashFetching = (f: UnleashFetching | undefined) => f && { answeredAt: f.answeredAt?.toISOString() ?? null, failing: f.failing ?? null };
