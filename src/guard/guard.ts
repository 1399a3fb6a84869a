/**
 * The guard: per service, sliding windows of mismatch rate, new-side error rate and added latency. When a
 * figure crosses its threshold (with enough samples), reads go back to legacy and shadow / cutover stop for
 * that service: at once on this instance (local overrides) and in Unleash when an admin token allows.
 * Dual writes stay on, so the new side keeps receiving data. Re-enabling is left to a person. With a fleet
 * (replicas sharing the store), windows add up the other replicas' counts, a trip or a resume anywhere is followed
 * here, and a replica started later follows the rollbacks still in force that the flags do not show.
 *
 * Over 300 lines: checks, rollback and its Unleash write share each service's state (windows and events are apart).
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../config.js';
import type { ExecutionObserver } from '../plan/observer.js';
import type { UnleashAdmin } from '../admin/unleash-admin.js';
import { serviceSnapshot, type Flags, type FlagsSnapshot } from '../flags/source.js';
import { flagName, type FlagKind } from '../flags/names.js';
import { isOn, type Stage } from '../flags/stage.js';
import { rollbackEdits, ROLLBACK_KINDS } from '../flags/controls.js';
import type { ServiceName } from '../services/registry.js';
import { childLogger } from '../telemetry/log.js';
import {
  movedNoReads,
  notifyWebhooks,
  type Breach,
  type FlagChange,
  type GuardEvent,
  type GuardEventInput,
  type GuardEvents,
  type GuardRule,
  type UnleashOutcome,
} from './events.js';
import { GuardWindow, type Counts, type WindowFigures } from './window.js';
import type { GuardFleet } from './fleet.js';
import type { SideGap } from '../store/side-gaps.js';
import { TripRecorder } from './trip-record.js';

const log = childLogger('guard');

export type GuardConfig = Config['guard'];

/** Stages in which some reads depend on the new side (served from it or compared): what the guard can roll back. */
const GUARDED: ReadonlySet<Stage> = new Set(['shadow', 'cutover', 'new-primary', 'complete']);

type GuardState = 'watching' | 'tripped';

export interface GuardServiceStatus {
  state: GuardState;
  figures: WindowFigures;
  /** When tripped: since when. */
  trippedAt?: string;
  /** The latest rollback event of this service (kept after a resume, for the record). */
  lastEvent?: GuardEvent;
}

export interface GuardOptions {
  config: GuardConfig;
  flags: Flags;
  services: readonly ServiceName[];
  events: GuardEvents;
  /** Turns the flags off in Unleash too; without it (and without a fleet) only this instance rolls back. */
  unleash?: UnleashAdmin;
  /** The other replicas sharing the store: their counts join the windows, their rollbacks are followed. */
  fleet?: GuardFleet;
  /** The service's legacy store missed writes (served at complete): a breach then takes nothing back to it. */
  legacyGap?: (service: ServiceName) => SideGap | undefined;
  /** How often the fleet's counts and events are exchanged (default: a bucket, at most 1 s). */
  syncMs?: number;
  now?: () => number;
}

interface ServiceGuard {
  window: GuardWindow;
  state: GuardState;
  trippedAt?: number;
  /** The stage the rollback left; a different one later means a person changed the flags: watch again. */
  stageAfter?: Stage;
  /** Local overrides waiting for Unleash to show the same values before they are let go. */
  awaitingUnleash?: FlagChange[];
  event?: GuardEvent;
  /** The other replicas' counts over the window (fleet), as last read. */
  peers?: Counts;
  /** Peers' buckets before this epoch are not counted: they were before this replica's last trip or re-arm. */
  sinceEpoch: number;
  /** When this replica last began watching: other replicas' rollbacks from before it are not followed. */
  watchingSince: number;
}

export class Guard {
  private readonly services = new Map<ServiceName, ServiceGuard>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly unsubscribe: () => void;
  private flagsCheckQueued = false;
  /** The flags as last seen; dropped on every change, so a lasting breach in an unguarded stage costs no rebuild per event. */
  private snapshot: FlagsSnapshot | undefined;
  private readonly recorder: TripRecorder;
  private syncTimer: NodeJS.Timeout | undefined;
  private syncing = false;
  /** The newest fleet event seen; undefined until the first sync reads where to start. */
  private lastEventId: number | undefined;

  readonly observer: Partial<ExecutionObserver>;

  constructor(private readonly opts: GuardOptions) {
    this.now = opts.now ?? Date.now;
    this.recorder = new TripRecorder(opts.events, opts.config.webhooks, opts.fleet !== undefined);
    for (const s of opts.services)
      this.services.set(s, { window: new GuardWindow(opts.config.bucketMs, opts.config.buckets), state: 'watching', sinceEpoch: 0, watchingSince: 0 });
    this.observer = this.makeObserver();
    this.unsubscribe = opts.flags.onChange(() => {
      this.snapshot = undefined;
      this.queueFlagsCheck();
    });
  }

  /** Checks at every bucket boundary too: old buckets leaving the window can change a figure. */
  start(): this {
    const schedule = () => {
      this.timer = setTimeout(tick, this.opts.config.bucketMs - (this.now() % this.opts.config.bucketMs));
      this.timer.unref();
    };
    const tick = () => {
      for (const s of this.services.keys()) this.check(s);
      schedule();
    };
    schedule();
    if (this.opts.fleet) {
      this.syncTimer = setInterval(() => void this.sync(), this.opts.syncMs ?? Math.min(1000, this.opts.config.bucketMs));
      this.syncTimer.unref();
    }
    return this;
  }

  /** Publishes this replica's buckets, reads the others', checks, and follows the others' rollbacks. */
  private async sync(): Promise<void> {
    const fleet = this.opts.fleet!;
    if (this.syncing) return;
    this.syncing = true;
    try {
      if (this.lastEventId === undefined) await this.catchUp();
      const now = this.now();
      let oldest = Number.POSITIVE_INFINITY;
      for (const [service, g] of this.services) {
        const epoch = g.window.epochOf(now);
        const first = epoch - this.opts.config.buckets + 1;
        oldest = Math.min(oldest, first);
        await fleet.publish(service, g.window.bucketsSince(epoch - 1));
        g.peers = g.state === 'watching' ? await fleet.peers(service, Math.max(first, g.sinceEpoch)) : undefined;
        this.check(service);
      }
      for (const e of await this.opts.events.byOthersAfter(this.lastEventId!, fleet.replica)) {
        this.lastEventId = e.id;
        this.follow(e);
      }
      await fleet.prune(oldest, this.opts.config.buckets);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'guard could not exchange figures with the fleet; this replica guards alone meanwhile');
    } finally {
      this.syncing = false;
    }
  }

  /** A replica's first exchange with the fleet: what its events so far mean for it, before it reads any figures. */
  private async catchUp(): Promise<void> {
    const last = await this.opts.events.lastId();
    for (const e of await this.opts.events.newestUpTo(last)) {
      const g = this.services.get(e.service as ServiceName);
      // The fleet's buckets from before a rollback were acted on, from before a resume let go of: as the replicas
      // running then forgot theirs, they no longer count here (they would roll the service back again).
      if (g) g.sinceEpoch = Math.max(g.sinceEpoch, g.window.epochOf(Date.parse(e.at)) + 1);
    }
    // A rollback the flags do not show (no admin token, flags from a file) is still in force in the fleet until a
    // person resumes it: a replica started after it (restarted, scaled up) follows it too.
    for (const e of await this.opts.events.inForceUpTo(last)) this.follow(e);
    this.lastEventId = last;
  }

  /** Another replica rolled a service back: the same here, at once (its flags change in Unleash only if it could). A person resumed it there: here too. */
  private follow(e: GuardEvent): void {
    const service = e.service as ServiceName;
    const g = this.services.get(service);
    if (e.kind === 'resume') {
      // Not a rollback it had not seen (this replica's own, not stored yet, or a later one).
      if (g?.state !== 'tripped' || (g.event?.id ?? Infinity) > (e.resumes ?? 0)) return;
      this.letGo(service, g);
      const by = e.covering ? 'a trip stored after its resume let go of' : 'resumed by an operator';
      log.info({ service, replica: e.replica, eventId: e.id }, `guard: ${by} on another replica; following it`);
      return;
    }
    if (!g || g.state !== 'watching' || Date.parse(e.at) < g.watchingSince || !GUARDED.has(this.stageOf(service))) return;
    this.hold(service, e.flagsChanged);
    this.enterTripped(service, g);
    g.event = e;
    if (e.unleash.changed.length) {
      g.awaitingUnleash = e.flagsChanged;
      this.queueFlagsCheck();
    }
    log.warn({ service, replica: e.replica, eventId: e.id }, 'guard: another replica rolled the service back; following it');
  }

  status(service: ServiceName): GuardServiceStatus | undefined {
    const g = this.services.get(service);
    if (!g) return undefined;
    return {
      state: g.state,
      figures: g.window.figures(this.now()),
      ...(g.trippedAt !== undefined ? { trippedAt: new Date(g.trippedAt).toISOString() } : {}),
      ...(g.event ? { lastEvent: g.event } : {}),
    };
  }

  tripped(): ServiceName[] {
    return [...this.services].filter(([, g]) => g.state === 'tripped').map(([s]) => s);
  }

  /** Called with each stored event. */
  onTrip(cb: (e: GuardEvent) => void): () => void {
    this.recorder.listeners.add(cb);
    return () => this.recorder.listeners.delete(cb);
  }

  /**
   * A person's go-ahead after a rollback: lets go of this instance's overrides for the service and
   * watches it again with an empty window. The flags themselves (file or Unleash) are the person's to set.
   */
  resume(service: ServiceName): boolean {
    const g = this.services.get(service);
    if (!g) return false;
    const tripped = g.state === 'tripped';
    this.letGo(service, g);
    log.info({ service }, 'guard resumed by an operator');
    if (tripped) this.track(this.recordResume(service, g));
    return true;
  }

  /**
   * Recorded for the fleet: the other replicas follow it, and one started later no longer follows the rollback. With
   * `covering`, a rollback stored only after the person's resume (trip-record.ts), let go of too, told to no channel.
   */
  private async recordResume(service: ServiceName, g: ServiceGuard, covering?: number): Promise<void> {
    const replica = this.opts.fleet?.replica;
    try {
      const event = await this.opts.events.record({
        kind: 'resume',
        service,
        stage: this.stageOf(service),
        breaches: [],
        figures: g.window.figures(this.now()),
        flagsChanged: [],
        unleash: { changed: [] },
        // The newest rollback this replica knew of: its own, or the fleet's events it read.
        resumes: Math.max(g.event?.id ?? 0, this.lastEventId ?? 0, covering ?? 0),
        ...(covering === undefined ? {} : { covering: true }),
        ...(replica ? { replica } : {}),
      });
      // The channel told of the rollback hears that a person let it go.
      if (covering === undefined) await notifyWebhooks(this.opts.config.webhooks, event);
    } catch (err) {
      log.error({ err, service }, 'guard resume could not be stored: other replicas stay rolled back until resumed each');
    }
  }

  private letGo(service: ServiceName, g: ServiceGuard): void {
    this.clearOverrides(service);
    this.rearm(g);
  }

  /** Waits for events still being stored and sent. */
  async close(): Promise<void> {
    this.recorder.close();
    clearTimeout(this.timer);
    clearInterval(this.syncTimer);
    this.unsubscribe();
    await Promise.allSettled([...this.pending]);
  }

  private makeObserver(): Partial<ExecutionObserver> {
    const at = (service: ServiceName, add: (w: GuardWindow, now: number) => void) => {
      const g = this.services.get(service);
      if (!g || g.state !== 'watching') return;
      add(g.window, this.now());
      this.check(service);
    };
    return {
      compared: (e) => {
        if (e.outcome === 'skipped' || e.outcome === 'legacy_error') return;
        at(e.route.service, (w, now) => {
          if (e.outcome === 'new_error') {
            w.addNewCall(false, now);
            return;
          }
          w.addComparison(e.outcome === 'mismatch', now);
          // The shadow side's call is counted here; a new primary's is counted when it is served.
          if (e.primary === 'legacy') w.addNewCall(true, now);
          if (e.control && e.candidate) w.addLatencies(e.control.latencyMs, e.candidate.latencyMs, now);
        });
      },
      served: (e) => {
        if (e.side === 'new') at(e.route.service, (w, now) => w.addNewCall(e.ok, now));
      },
      fallback: (route) => at(route.service, (w, now) => w.addNewCall(false, now)),
      secondaryWritten: (e) => {
        if (e.side === 'new') at(e.route.service, (w, now) => w.addNewCall(e.ok, now));
      },
    };
  }

  private check(service: ServiceName): void {
    const g = this.services.get(service)!;
    if (g.state !== 'watching') return;
    const figures = g.window.figures(this.now(), g.peers);
    const breaches = breachesOf(figures, this.opts.config);
    if (!breaches.length) return;
    const stage = this.stageOf(service);
    // Nothing on the read path to take back (off, dual-write, killed): the data keeps flowing to the outbox.
    if (!GUARDED.has(stage)) return;
    this.trip(service, g, stage, figures, breaches);
  }

  private stageOf(service: ServiceName): Stage {
    return serviceSnapshot((this.snapshot ??= this.opts.flags.snapshot()), service).stage;
  }

  private trip(service: ServiceName, g: ServiceGuard, stage: Stage, figures: WindowFigures, breaches: Breach[]): void {
    const gap = this.opts.legacyGap?.(service);
    const changes = stage === 'complete' || gap ? [] : rollbackChanges(service, this.opts.flags);
    // Locally first, synchronously: the next request of this service already goes to legacy.
    this.hold(service, changes);
    this.enterTripped(service, g);
    g.event = undefined;
    const trip = { service, stage, breaches, figures, flagsChanged: changes, ...(gap ? { legacyBehindSince: gap.since.toISOString() } : {}) };
    const kept = movedNoReads(trip);
    log.warn(trip, kept ? `guard breach: nothing rolled back: ${kept}` : 'guard breach: reads rolled back to legacy');
    this.track(this.finishTrip(service, g, trip));
  }

  /** The slow part of a trip, off the request path: Unleash, then the event stored and told (trip-record.ts). */
  private async finishTrip(service: ServiceName, g: ServiceGuard, trip: Omit<GuardEventInput, 'unleash'>): Promise<void> {
    const trippedAt = g.trippedAt;
    // The fleet's events this replica had read when it tripped: one stored since by another replica is the same trip.
    const seenUpTo = this.lastEventId;
    const changes = trip.flagsChanged;
    const unleash = await this.applyInUnleash(changes);
    if (unleash.changed.length && g.state === 'tripped') {
      g.awaitingUnleash = changes;
      this.queueFlagsCheck();
    }
    const fleet = this.opts.fleet;
    await this.recorder.record({
      input: { ...trip, unleash, ...(fleet ? { replica: fleet.replica } : {}), uid: randomUUID(), at: new Date(trippedAt ?? this.now()).toISOString() },
      seenUpTo,
      holds: () => g.state === 'tripped' && g.trippedAt === trippedAt,
      stored: (e) => {
        if (g.trippedAt === trippedAt) g.event = e;
      },
      letGo: (e) => this.track(this.recordResume(service, g, e.id)),
    });
  }

  private async applyInUnleash(changes: FlagChange[]): Promise<UnleashOutcome> {
    if (!changes.length) return { changed: [] };
    if (!this.opts.unleash)
      return { changed: [], skipped: this.opts.flags.source === 'unleash' ? 'no Unleash admin token configured' : 'flags come from a file' };
    const changed: string[] = [];
    try {
      for (const c of changes) {
        await this.opts.unleash.setEnabled(c.flag, c.to === 'on');
        changed.push(c.flag);
      }
      return { changed };
    } catch (err) {
      log.error({ err: (err as Error).message }, 'guard could not change the flags in Unleash; the local rollback stays');
      return { changed, error: (err as Error).message };
    }
  }

  /** Flag changes arrive as callbacks from inside setLocalOverride too; handled once, after the current one. */
  private queueFlagsCheck(): void {
    if (this.flagsCheckQueued) return;
    this.flagsCheckQueued = true;
    queueMicrotask(() => {
      this.flagsCheckQueued = false;
      this.onFlagsChanged();
    });
  }

  private onFlagsChanged(): void {
    for (const [service, g] of this.services) {
      if (g.state !== 'tripped') continue;
      // Once Unleash shows what the guard set, the overrides go: from then on a person's change in Unleash counts.
      if (g.awaitingUnleash?.every((c) => isOn(this.opts.flags.definition(c.flag)) === (c.to === 'on'))) {
        g.awaitingUnleash = undefined;
        this.clearOverrides(service);
      }
      if (serviceSnapshot(this.opts.flags.snapshot(), service).stage !== g.stageAfter) {
        log.info({ service }, 'flags changed after a rollback: guard watching again');
        this.rearm(g);
      }
    }
  }

  /**
   * A rollback's changes as local overrides, and beside them every other flag that puts the orchestrator on the read
   * path held off: until a person resumes (or Unleash shows the rollback, from when a person's change there counts),
   * an advance in a flags file sends no reads to a side just found wrong, and none uncompared (the shadow reads stay
   * rolled back).
   */
  private hold(service: ServiceName, changes: readonly FlagChange[]): void {
    for (const c of changes) this.opts.flags.setLocalOverride(c.flag, c.to === 'on');
    if (!changes.length) return;
    for (const k of ROLLBACK_KINDS) {
      const flag = flagName(service, k);
      if (!changes.some((c) => c.flag === flag)) this.opts.flags.setLocalOverride(flag, false);
    }
  }

  private clearOverrides(service: ServiceName): void {
    const mine = new Set(['dual-write', ...ROLLBACK_KINDS].map((k) => flagName(service, k as FlagKind)));
    for (const flag of Object.keys(this.opts.flags.localOverrides())) if (mine.has(flag)) this.opts.flags.setLocalOverride(flag, null);
  }

  private enterTripped(service: ServiceName, g: ServiceGuard): void {
    g.state = 'tripped';
    g.trippedAt = this.now();
    g.stageAfter = serviceSnapshot(this.opts.flags.snapshot(), service).stage;
    this.forget(g);
  }

  private rearm(g: ServiceGuard): void {
    g.state = 'watching';
    g.trippedAt = undefined;
    g.stageAfter = undefined;
    g.awaitingUnleash = undefined;
    g.watchingSince = this.now();
    this.forget(g);
  }

  /** A fresh window: this replica's counts and the fleet's from before now no longer count. */
  private forget(g: ServiceGuard): void {
    g.window.reset();
    g.peers = undefined;
    g.sinceEpoch = g.window.epochOf(this.now()) + 1;
  }

  private track(p: Promise<unknown>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }
}

/** The rules a window breaks: each needs its minimum sample count, then a value above its threshold. */
export function breachesOf(f: WindowFigures, c: Pick<GuardConfig, GuardRule>): Breach[] {
  const rules: Array<[GuardRule, number | null, number]> = [
    ['mismatchRate', f.mismatchRate, f.compared],
    ['errorRate', f.errorRate, f.newCalls],
    ['addedLatencyMs', f.addedLatencyMs, f.latencySamples],
  ];
  return rules
    .filter(([rule, value, samples]) => value !== null && samples >= c[rule].minSamples && value > c[rule].threshold)
    .map(([rule, value, samples]) => ({ rule, value: value!, threshold: c[rule].threshold, samples, minSamples: c[rule].minSamples }));
}

/** Flags to turn off (everything putting new on the read path) and dual-write to keep on if the stage implied it. */
function rollbackChanges(service: ServiceName, flags: Flags): FlagChange[] {
  const snap = serviceSnapshot(flags.snapshot(), service);
  return rollbackEdits(service, snap.flags, snap.stage).map((e) => ({ flag: e.flag, to: e.enabled ? 'on' : 'off' }));
}
