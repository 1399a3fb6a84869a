/**
 * Settles unknown outcomes: whether a write whose call timed out, or whose connection broke after the send,
 * was applied on a side. A REP backend answers one connection's requests in order, so a look-up answered on
 * the connection that carried the write comes after the write was applied or dropped for good. When that
 * connection is gone (a restart, another replica's claim, a reconnect), the backend may still hold requests
 * from it: a barrier of sequential pings first lets it work them off (it takes connections in turn, and no
 * connection held more than the leg's in-flight bound), and only then is the look-up conclusive.
 */
import { parseReply } from '../core/sides.js';
import type { Side } from '../core/plan.js';
import type { Route } from '../core/route.js';
import type { Leg } from '../legs/types.js';
import type { ServiceName } from '../services/catalog.js';
import { isApplied, legacyLookupOf } from '../services/legacy-lookup.js';
import type { LegacyRequest, Translator } from '../services/types.js';
import { pyDumps } from '../util/pyjson.js';

/** applied / absent; idempotent: sending it again leaves the same state; unknowable: the side offers no way to tell. */
export type Found = 'applied' | 'absent' | 'idempotent' | 'unknowable';

export interface ResolveSides {
  legacy: Leg;
  newLeg: Leg;
  translator: Translator;
}

export interface ResolverOptions {
  sides(service: ServiceName): ResolveSides;
  /** The key's other writes known applied on `side`, newest first (at most `limit`): see OutboxTable.appliedOn. */
  appliedOn(service: ServiceName, key: string, side: Side, exceptId: string, limit: number): Promise<{ request: Buffer; seq: number }[]>;
  /** Sequential pings that drain a gone connection's requests: more than twice the largest in-flight bound. */
  barrierPings: number;
}

/** The write being looked up: its route, and its id (the outbox row's; the orchestrator tag). */
export interface WriteRef {
  route: Route;
  id: string;
}

const LEGACY_PING = Buffer.from(pyDumps({ action: 'health_check' }));
const ORCHESTRATOR_PING = Buffer.from(pyDumps({ action: 'health_check', request_id: 'req-barrier0' }));
/** The key's other writes read to account for records equal to the one looked for. */
const OTHERS_LIMIT = 10_000;

export class Resolver {
  constructor(private readonly o: ResolverOptions) {}

  /** The connection a side's calls for this service go out on now (see Leg.connection). */
  connection(service: ServiceName, side: Side): number | undefined {
    return this.legOf(service, side).connection();
  }

  /**
   * Looks the write up on `side`. `sentOn`: the connection that carried it, when this process sent it (no
   * barrier while that connection lasts). Rejects (a LegError, OrchestratorError...) while it cannot tell yet.
   */
  async find(side: Side, w: WriteRef, sentOn: number | undefined): Promise<Found> {
    const service = w.route.service;
    const request = w.route.request as LegacyRequest;
    const lookup = legacyLookupOf(service);
    if (side === 'legacy' && !lookup.read(request)) return 'unknowable';
    if (side === 'legacy' && !('adds' in lookup.effect(request))) return 'idempotent';
    const leg = this.legOf(service, side);
    if (sentOn === undefined || leg.connection() !== sentOn) await this.barrier(leg, side);
    if (side === 'new') return this.o.sides(service).translator.lookup(request, w.id);
    const reply = parseReply(await leg.call(pyDumps(lookup.read(request))));
    const records = lookup.records(reply);
    if (!records) throw new Error(`${service}: the look-up's reply shows no records`);
    const others = await this.o.appliedOn(service, w.route.key ?? '', side, w.id, OTHERS_LIMIT);
    const known = others.map((o) => ({ request: parseReply(o.request) as LegacyRequest, seq: o.seq }));
    return isApplied(lookup, request, records, known) ? 'applied' : 'absent';
  }

  private async barrier(leg: Leg, side: Side): Promise<void> {
    const ping = side === 'legacy' ? LEGACY_PING : ORCHESTRATOR_PING;
    for (let i = 0; i < this.o.barrierPings; i++) await leg.call(ping);
  }

  private legOf(service: ServiceName, side: Side): Leg {
    const s = this.o.sides(service);
    return side === 'legacy' ? s.legacy : s.newLeg;
  }
}
