/**
 * Settles unknown outcomes: whether a write whose call timed out, or whose connection broke after the send,
 * was applied on a side. A REP backend answers one connection's requests in order, so a look-up answered on
 * the connection that carried the write comes after the write was applied or dropped for good. When that
 * connection is gone (a restart, another replica's claim, a reconnect), the backend may still hold requests
 * from it: a barrier of pings first lets it work them off, and only then is the look-up conclusive. A REP
 * socket takes its connections' requests in turn, one each, so once more pings than the gone connection
 * held (at most the leg's in-flight bound) are answered, nothing of it is left.
 */
import { randomUUID } from 'node:crypto';
import { serviceConfigOf, type Config } from '../config.js';
import { parseReply } from '../comparison/observation.js';
import { routeRequest } from '../routes/route.js';
import type { Side } from '../plan/plan.js';
import type { Route } from '../routes/route.js';
import { isUnknownOutcome, LegError, type Leg } from '../legs/types.js';
import { serviceOf, type ServiceName } from '../services/registry.js';
import { appliedAt, clearLanded, effectDigest } from '../services/legacy-lookup.js';
import type { AppliedWrite } from './table.js';
import { MayStillLand } from './hold.js';
import type { LegacyRequest, Translator } from '../services/types.js';
import { HEALTH_CHECK } from '../services/health-check.js';
import { pyDumps } from '../util/pyjson.js';

/** applied / absent; idempotent: sending it again leaves the same state; unknowable: the side offers no way to tell. */
export type Found = 'applied' | 'absent' | 'idempotent' | 'unknowable';

/** What a look-up found, with the found record's own time on a legacy side where its read shows it. */
export interface FoundRecord {
  found: Found;
  stamp?: unknown;
}

export interface ResolveSides {
  legacy: Leg;
  newLeg: Leg;
  translator: Translator;
}

export interface ResolverOptions {
  sides(service: ServiceName): ResolveSides;
  /** The key's other writes known applied on `side`, newest first (at most `limit`): see OutboxTable.appliedOn. */
  appliedOn(service: ServiceName, key: string, side: Side, exceptId: string, limit: number): Promise<AppliedWrite[]>;
  /** Pings that drain a gone connection's requests from a side's backend: more than its leg's in-flight bound. */
  barrierPings(service: ServiceName, side: Side): number;
  /**
   * The key's writes stored after write `id`, which may have landed on their primary: see OutboxTable.writtenAfter.
   * Without it (a resolver of writes no outbox tracks) a clear counts as idempotent wherever it is looked up.
   */
  writtenAfter?(service: ServiceName, key: string, id: string): Promise<AppliedWrite[]>;
}

/** The write being looked up: its route, and its id (the outbox row's; the orchestrator tag). */
export interface WriteRef {
  route: Route;
  id: string;
}

const BARRIER_ROUND = 32;
/**
 * A barrier fails once none of its pings was answered for this many of the leg's timeouts: a REP backend takes its
 * connections' requests in turn, so with another connection's queue beside the barrier's, a ping is answered every
 * other request.
 */
const STALL_TIMEOUTS = 2;
/** Look-ups of one repair write before it is given up as unknown (nothing is sent again then). */
const PATIENT_LOOKUPS = 10;
const PATIENT_DELAY_MS = 1_000;

/** The key's other writes read to account for records equal to the one looked for. */
const OTHERS_LIMIT = 10_000;

/** A barrier on one leg: when its pings began (Infinity while it waits for the one before it), and its end. */
interface Barrier {
  startedAt: number;
  done: Promise<void>;
}

export class Resolver {
  /** The latest barrier per leg: one serves every write whose connection was gone before it began. */
  private readonly barriers = new Map<Leg, Barrier>();

  constructor(private readonly o: ResolverOptions) {}

  /** The connection a side's calls for this service go out on now (see Leg.connection). */
  connection(service: ServiceName, side: Side): number | undefined {
    return this.legOf(service, side).connection();
  }

  /**
   * Looks the write up on `side`. `sentOn`: the connection that carried it, when this process sent it (no
   * barrier while that connection lasts). `since`: a time by which that connection was gone or replaced
   * (a barrier begun later covers it). Rejects (a LegError, OrchestratorError...) while it cannot tell yet.
   */
  async find(side: Side, w: WriteRef, sentOn: number | undefined, since: number): Promise<Found> {
    return (await this.findRecord(side, w, sentOn, since)).found;
  }

  /** Whether no look-up on `side` can show the write: its legacy service offers no read that shows it. */
  unknowable(side: Side, w: WriteRef): boolean {
    return side === 'legacy' && !serviceOf(w.route.service).lookup.read(w.route.request as LegacyRequest);
  }

  /**
   * find(), and the time the legacy side gave the record it found (a copy then carries that exact time). `primary`:
   * `side` is the write's primary, where a clear is looked up by what it left (clearFound); on its secondary, where
   * the key's later copies wait behind it, a clear is sent again.
   */
  async findRecord(side: Side, w: WriteRef, sentOn: number | undefined, since: number, primary = false): Promise<FoundRecord> {
    const service = w.route.service;
    const request = w.route.request as LegacyRequest;
    const lookup = serviceOf(service).lookup;
    if (this.unknowable(side, w)) return { found: 'unknowable' };
    const clear = primary && 'clears' in lookup.effect(request) && this.o.writtenAfter !== undefined && lookup.read(request) !== undefined;
    if (side === 'legacy' && !clear && !('adds' in lookup.effect(request))) return { found: 'idempotent' };
    const leg = this.legOf(service, side);
    if (sentOn === undefined || leg.connection() !== sentOn) await this.barrier(leg, side, this.o.barrierPings(service, side), since);
    if (clear) return { found: await this.clearFound(side, w) };
    if (side === 'new') return { found: await this.o.sides(service).translator.lookup(request, w.id) };
    return this.readLegacy(w);
  }

  /**
   * Whether a clear landed on its primary, from what the key holds there now (legacy-lookup.ts clearLanded): taken as
   * applied whatever it found, a clear the primary never had (a restart lost it queued) emptied the secondary of
   * acknowledged writes the primary kept.
   */
  private async clearFound(side: Side, w: WriteRef): Promise<Found> {
    const { service, key } = w.route;
    const { records } = await this.recordsOn(side, w);
    const later = await this.o.writtenAfter!(service, key ?? '', w.id);
    return clearLanded(records, effectsOf(service, later)) ? 'applied' : 'absent';
  }

  /** The key's records on `side` as its look-up read shows them (the new side's through the translator), and the reply. */
  private async recordsOn(side: Side, w: WriteRef): Promise<{ records: string[]; reply: unknown }> {
    const service = w.route.service;
    const lookup = serviceOf(service).lookup;
    const read = lookup.read(w.route.request as LegacyRequest)!;
    const reply =
      side === 'legacy'
        ? parseReply(await this.legOf(service, side).call(pyDumps(read)))
        : await this.o.sides(service).translator.handle(read, { createMissing: false });
    const records = lookup.records(reply);
    if (!records) throw new Error(`${service}: the look-up's reply shows no records`);
    return { records, reply };
  }

  /**
   * The legacy time of a write known applied there whose acknowledgement this process did not see (a crash
   * came between): read rather than guessed from when its intent was made, which a backed-up legacy service
   * may be seconds behind. Undefined when the service's read shows no times, or cannot be had now (the copy
   * then waits for no legacy service, and carries the intent's time).
   */
  async legacyStamp(w: WriteRef): Promise<unknown> {
    const lookup = serviceOf(w.route.service).lookup;
    const request = w.route.request as LegacyRequest;
    if (!lookup.stamps || !lookup.read(request) || !('adds' in lookup.effect(request))) return undefined;
    return (await this.readLegacy(w).catch(() => undefined))?.stamp;
  }

  private async readLegacy(w: WriteRef): Promise<FoundRecord> {
    const service = w.route.service;
    const request = w.route.request as LegacyRequest;
    const lookup = serviceOf(service).lookup;
    const { records, reply } = await this.recordsOn('legacy', w);
    const others = await this.o.appliedOn(service, w.route.key ?? '', 'legacy', w.id, OTHERS_LIMIT);
    const effects = effectsOf(service, others);
    const known = others.map((o, i) => ({ effect: effects[i]!, seq: o.seq }));
    const at = appliedAt(lookup, request, records, known);
    if (at < 0) return { found: 'absent' };
    const stamp = lookup.stamps?.(reply)?.[at];
    return stamp === undefined ? { found: 'applied' } : { found: 'applied', stamp };
  }

  /** Resolves once `side`'s backend has worked off whatever was sent to it before `since` (a barrier); rejects while it does not answer. */
  settle(service: ServiceName, side: Side, since: number): Promise<void> {
    return this.barrier(this.legOf(service, side), side, this.o.barrierPings(service, side), since);
  }

  private barrier(leg: Leg, side: Side, pings: number, since: number): Promise<void> {
    const last = this.barriers.get(leg);
    if (last && last.startedAt >= since) return last.done;
    const ping = HEALTH_CHECK[side];
    const next: Barrier = { startedAt: Number.POSITIVE_INFINITY, done: Promise.resolve() };
    next.done = (async () => {
      await last?.done.catch(() => undefined);
      next.startedAt = Date.now();
      // In rounds of a few dozen at once: the count is what matters, and one round trip serves a whole round. A round's
      // pings wait in the backend's queue behind each other (and the gone connection's requests, taken in turn): on a
      // slow backend the last ones would outlast the leg's timeout, fail the barrier every time and stay queued, making
      // the next one slower still. So they get a long timeout, and the barrier fails only when none is answered for
      // a stall (a hung backend).
      const stallMs = STALL_TIMEOUTS * leg.timeoutMs;
      let answered = Date.now();
      const one = () => leg.call(ping, { timeoutMs: BARRIER_ROUND * stallMs }).then(() => void (answered = Date.now()));
      for (let left = pings; left > 0; left -= BARRIER_ROUND)
        await progressing(Promise.all(Array.from({ length: Math.min(left, BARRIER_ROUND) }, one)), () => answered, stallMs, leg.endpoint);
    })();
    // A barrier that failed (the backend hangs again) proves nothing: the next write starts its own.
    next.done.catch(() => this.barriers.get(leg) === next && this.barriers.delete(leg));
    this.barriers.set(leg, next);
    return next.done;
  }

  private legOf(service: ServiceName, side: Side): Leg {
    const s = this.o.sides(service);
    return side === 'legacy' ? s.legacy : s.newLeg;
  }
}

/** Each row's effect (legacy-lookup.ts effectDigest): rows stored before effects were kept have theirs made from the request they still hold. */
function effectsOf(service: ServiceName, rows: readonly AppliedWrite[]): string[] {
  const lookup = serviceOf(service).lookup;
  return rows.map((o) => o.effect ?? effectDigest(lookup, parseReply(o.request) as LegacyRequest));
}

/** The most requests a connection to a leg can have held: its bound, `maxInFlight`. */
export const legBound = (config: Config, service: ServiceName, side: Side): number =>
  (side === 'legacy' ? serviceConfigOf(config, service).legacy : (serviceConfigOf(config, service).new ?? config.orchestrator)).maxInFlight;

/** Each leg's barrier: one more ping than its bound. */
export function barrierPingsFor(config: Config): (service: ServiceName, side: Side) => number {
  return (service, side) => legBound(config, service, side) + 1;
}

/** The longest any primary call may take: the slowest leg's timeout, and a second for the rest of the write path. */
export function primaryBudgetMs(config: Config): number {
  const legs = [config.orchestrator, ...Object.values(config.services).flatMap((s) => [s.legacy, s.new ?? config.orchestrator])];
  return Math.max(...legs.map((b) => b.timeoutMs)) + 1_000;
}

/** A repair write whose outcome stayed unknown through every look-up: left alone, not sent again (it may still land). */
class OutcomeUnknown extends MayStillLand {}

/**
 * Sends one write that no outbox tracks (repair, backfill), exactly once: when its outcome is unknown it
 * is looked up, patiently while the side does not answer, and sent again only when found absent. Resolves
 * with the side's reply, or undefined when a look-up found it applied.
 */
export async function sendOnce(
  resolver: Resolver,
  side: Side,
  service: ServiceName,
  request: LegacyRequest,
  send: (writeId: string) => Promise<unknown>,
): Promise<unknown> {
  const routed = routeRequest(service, Buffer.from(pyDumps(request)), Number.MAX_SAFE_INTEGER);
  if (!routed.ok) throw new Error(`${service}: cannot route ${request.action}: ${routed.reason}`);
  const ref: WriteRef = { route: routed.route, id: randomUUID() };
  for (;;) {
    const on = resolver.connection(service, side);
    try {
      return await send(ref.id);
    } catch (err) {
      if (!isUnknownOutcome(err)) throw err;
    }
    const found = await findPatiently(resolver, side, ref, on, Date.now());
    if (found === 'applied') return undefined;
    if (found === 'unknowable') throw new OutcomeUnknown(`${service} ${request.action}: outcome unknown, and the side shows no such write`);
  }
}

async function findPatiently(resolver: Resolver, side: Side, ref: WriteRef, on: number | undefined, since: number): Promise<Found> {
  for (let n = 1; ; n++) {
    try {
      return await resolver.find(side, ref, on, since);
    } catch (err) {
      if (n >= PATIENT_LOOKUPS)
        throw new OutcomeUnknown(`${ref.route.service} ${ref.route.action}: outcome still unknown after ${n} look-ups (${String(err)}): not sent again`);
      await new Promise((r) => setTimeout(r, PATIENT_DELAY_MS));
    }
  }
}

/** `work`, failed with a timeout once `answered()` (the time of its latest progress) is `stallMs` old. */
async function progressing<T>(work: Promise<T>, answered: () => number, stallMs: number, endpoint: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    const check = () => {
      const idle = Date.now() - answered();
      if (idle >= stallMs) reject(new LegError('timeout', `no reply within ${stallMs} ms`, endpoint));
      else timer = setTimeout(check, stallMs - idle);
    };
    timer = setTimeout(check, stallMs);
  });
  try {
    return await Promise.race([work, stalled]);
  } finally {
    clearTimeout(timer);
  }
}
