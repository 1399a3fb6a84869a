/**
 * Serving a key about a turn of the side each service's writes go to first (to new-primary, or back from it: the
 * guard's rollback too; src/plan/turns.ts notes them): after a turn, writes made before it may still be queued
 * towards the side now first (a legacy restarting at new-primary holds its copies back), so until they have landed a
 * key that still has some is served by the other side, which has them: its agent reads what it wrote, and its writes
 * reach each side in their order. While the store cannot tell, a key this replica last wrote first to the other side
 * stays there, and one whose copies made before it started may be on their way is refused.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Observation } from '../comparison/observation.js';
import { isUnknownOutcome, LegError } from '../legs/types.js';
import type { Route } from '../routes/route.js';
import type { ServiceName } from '../services/registry.js';
import type { SuccessRule } from '../services/service.js';
import { childLogger } from '../telemetry/log.js';
import type { KeyActivity } from './key-activity.js';
import type { ExecutionObserver } from './observer.js';
import { other, planFor, type FlagDecision, type Plan, type Side } from './plan.js';
import { keyOf as activityKey, type PendingWrite, type SecondaryWrites, type Untold } from './secondary.js';
import { LateTranslation, type SideOptions } from './sides.js';
import { isSuccess } from './success.js';
import type { Turns } from './turns.js';
import { withDeadline } from '../util/deadline.js';

const log = childLogger('plan');

export interface AheadDeps {
  turns?: Turns;
  sides(service: ServiceName): SideOptions;
  secondary: SecondaryWrites;
  activity: KeyActivity;
  observer: ExecutionObserver;
}

/**
 * The plan, answered by the other side where the one it names still lacks writes to the key that the other has and
 * both are written: a read-new read whose key's copy is still on its way to new (a write in flight here counts), or,
 * after the service's turn, a request of a key with writes queued towards the side now first (the store tells: a
 * write in flight here may be one made since, towards the other side). Undefined where there is nothing to ask.
 */
export function servedAhead(d: AheadDeps, route: Route, plan: Plan, flags: FlagDecision, write: boolean): Promise<Plan> | undefined {
  if (route.spec?.kind !== 'read' && route.spec?.kind !== 'write') return undefined;
  const writes = write ? plan : planFor('write', flags);
  const side = plan.primary;
  const turned = d.turns?.lagging(route.service, writes.primary, side) ?? false;
  const readNew = !write && side === 'new' && !flags.newPrimary;
  // Nothing to ask (a steady stage): no promise, on the path of every request.
  if (!writes.writeSecondary || !(readNew || turned)) {
    if (write && writes.writeSecondary) d.turns?.wrote(route.service, route.key ?? '', side);
    return undefined;
  }
  return movedIfBehind(d, route, plan, readNew, write).then((p) => {
    if (write) d.turns?.wrote(route.service, route.key ?? '', p.primary);
    return p;
  });
}

async function movedIfBehind(d: AheadDeps, route: Route, plan: Plan, readNew: boolean, write: boolean): Promise<Plan> {
  const side = plan.primary;
  const key = route.key ?? '';
  // Where the store cannot tell, a read-new read is served by legacy, always ahead then. After a turn, a key this
  // replica last wrote first to the other side stays there (each side then takes its writes in this replica's order);
  // another replica's copies are not known here, so a write of another key goes to the flags' side, and a read of one
  // is refused where another replica may have written it (chaos seed 272: the store slow under load for a read just
  // after a turn, served by the side turned to without another replica's write, whose copy had not landed there).
  const here = !readNew && d.turns?.wroteFirst(route.service, key) === other(side);
  // A key this replica has not written, with copies made before it started still on their way to the side when the
  // store last told (a killed process's, unknown here: the restart of chaos seed 797 wrote the key first to the side
  // turned to, ahead of them), is refused while the store cannot tell: either side may lack some of its writes.
  const untold: Untold = here || (!readNew && d.turns?.unseen(route.service, key, side) ? 'refuse-any' : !write && 'refuse');
  // A write is moved off a side only for copies on their way there, a read only for writes it would miss there that
  // their agents may have been told of (parked ones too). Writes whose primary's outcome is unknown (their agents were
  // told of an error) may be missing from both sides: moving the key's next write for them would put it ahead of the
  // acknowledged ones queued towards the other side (found by the chaos probe with a replica killed), and a read
  // refused or moved for them would fail where the side answers every acknowledged write.
  // Asked even while the turn's watch last found the store away: the outbox answers `here` at once while it takes the
  // store for away, and asks it as soon as it answers again, where the watch would still say away until its next poll
  // and this replica would not know of another's copies of the key on their way (chaos seed 78, two replicas and the
  // store paused, had one replica's write go ahead of such a copy once; this is one way to that, not shown its cause).
  const asked = () => (write ? d.secondary.copying(route.service, key, side, untold) : d.secondary.lacks(route.service, key, side, readNew || untold));
  const behind = (readNew && d.activity.busy(activityKey(route.service, route.key))) || (await asked());
  if (!behind) return plan;
  // After a turn both sides may lack some of the key's writes (copies on their way each way): neither answers it whole
  // (while the store cannot tell, the side ahead is taken to have them).
  if (!write && !readNew && !d.turns?.away && (await d.secondary.lacks(route.service, key, other(side), false)))
    throw new LegError('unavailable', BOTH_BEHIND, 'memshift');
  // A read goes to the side ahead whatever its health (a read-new read to legacy, its writes' primary, as ever): failing,
  // it can only fail, which beats a stale reply. Only a write looks at the side's health.
  const moved = !write || answering(d.sides(route.service), other(side));
  // Both sides may lack some of the key's writes (a side failing a moment ago got none moved onto it; a write moved
  // since is copied to the other): a write waits a little for the copies on their way to the side it goes to first.
  // Kept on the side known behind, it takes a store that stops answering for copies still on their way (chaos seed 9
  // with the store paused went ahead of them); moved to the side ahead, for none, as the move itself does.
  if (write) await afterCopies(d, route, moved ? other(side) : side, !moved);
  if (!moved) return plan;
  if (!write) d.observer.staleReadAvoided({ route, side: other(side) });
  return { ...plan, primary: other(side), behind: side };
}

/**
 * Whether legacy may lack writes of a read's key that their agents may have been told of: moved off it, or with copies
 * of them not landed there (SecondaryWrites.lacks).
 */
export async function legacyMayLack(d: Pick<AheadDeps, 'secondary'>, route: Route, plan: Plan, flags: FlagDecision): Promise<boolean> {
  if (plan.behind === 'legacy') return true;
  // Where the store cannot tell: behind at new-primary (legacy written second), not where legacy is written first.
  return d.secondary.lacks(route.service, route.key ?? '', 'legacy', flags.newPrimary);
}

const BOTH_BEHIND = "each side still lacks some of this key's writes (their copies on their way): read refused rather than answered stale";

const COPIES_LATE = "this key's earlier writes are still on their way to the side it is written to first: write refused, nothing sent";

/** How long a write waits at most for its key's copies on their way to the side it goes to first, and how often it asks. */
const COPIES_WAIT_MS = 2_000;
const COPIES_POLL_MS = 50;

/** `unknown`: whether copies count as on their way while the store cannot tell. */
async function afterCopies(d: AheadDeps, route: Route, side: Side, unknown: boolean): Promise<void> {
  const until = Date.now() + COPIES_WAIT_MS;
  while (await d.secondary.copying(route.service, route.key ?? '', side, unknown)) {
    if (Date.now() >= until) {
      const ctx = { service: route.service, action: route.action, side };
      if (d.turns?.whenCopiesLate === 'refuse') {
        log.warn(ctx, 'copies of the key still on their way to this side: the write is refused (outbox.whenCopiesLate)');
        throw new LegError('unavailable', COPIES_LATE, 'memshift');
      }
      log.warn(ctx, 'copies of the key still on their way to this side: the write goes ahead of them');
      return;
    }
    await sleep(COPIES_POLL_MS);
  }
}

/**
 * A write whose intent found its key's copies on their way to the side it goes to first (`PendingWrite.behindCopies`:
 * another replica turned and wrote the key first to the other side, and this one has not yet seen the turn, or asked
 * about it when the store gave no answer): made after them, or refused as afterCopies says, its intent dropped then.
 * The insert told of them: while the store cannot tell whether they landed since, they are on their way.
 */
export async function afterOthersCopies(d: AheadDeps, route: Route, side: Side, pending: PendingWrite): Promise<void> {
  try {
    await afterCopies(d, route, side, true);
  } catch (err) {
    pending.settle('refused');
    throw err;
  }
}

/**
 * A side with a call that failed lately (hung, restarting, its breaker open) and none answered since is not moved onto
 * by a write: a timeout there would leave the write unknown. One that answers again (a JarvisMemoryAgent back from its
 * restart) is.
 */
const FAILED_LATELY_MS = 10_000;

function answering(sides: SideOptions, side: Side): boolean {
  const s = (side === 'legacy' ? sides.legacy : sides.newLeg).stats();
  const failedLately = s.lastFailureAt !== null && Date.now() - s.lastFailureAt <= FAILED_LATELY_MS;
  return s.breaker === 'closed' && (!failedLately || (s.lastSuccessAt !== null && s.lastSuccessAt > s.lastFailureAt!));
}

/**
 * A write moved to the side ahead (servedAhead) that this side refused (the guard's rollback from a failing orchestrator
 * moves keys onto it): made again on the side the flags name once its key's copies landed there, as any write kept on a
 * side behind (afterCopies: past their wait refused, or made ahead of them: outbox.whenCopiesLate). A write whose
 * outcome is unknown is not made again (it may yet be applied).
 */
export function writtenAhead(d: AheadDeps, route: Route, plan: Plan, rules: SuccessRule[], write: (plan: Plan) => Promise<Observation>): Promise<Observation> {
  return plan.behind ? rewritten(d, route, plan, plan.behind, rules, write) : write(plan);
}

async function rewritten(
  d: AheadDeps,
  route: Route,
  plan: Plan,
  behind: Side,
  rules: SuccessRule[],
  write: (plan: Plan) => Promise<Observation>,
): Promise<Observation> {
  try {
    const reply = await write(plan);
    if (route.spec?.kind === 'read' || isSuccess(reply.value, rules)) return reply;
  } catch (err) {
    if (isUnknownOutcome(err) || err instanceof LateTranslation) throw err;
  }
  log.warn({ service: route.service, action: route.action, side: other(behind) }, 'the side ahead refused a write moved to it: made on the side behind');
  // Chaos seed 11 (two replicas, the store and replicas paused): ContextualMemoryAgent restarting refused such a write
  // unsent, and made on the orchestrator at once it went ahead of 240 copies still queued there.
  await afterCopies(d, route, behind, true);
  return write({ ...plan, primary: behind, behind: undefined });
}

/**
 * A dual-write's `done`, called when its copy landed or was left to the store (or the write never began: its turn
 * refused), which calls `end` (the key's activity here ends); and its answer, given after that about a turn
 * (Turns.copyWaitMs: at most that long; otherwise at once).
 */
export function copyLanding(end: () => void): { done: () => void; answer<T>(turns: Turns | undefined, service: ServiceName, reply: Promise<T>): Promise<T> } {
  let landed!: () => void;
  const copied = new Promise<void>((resolve) => (landed = resolve));
  return {
    done: () => {
      end();
      landed();
    },
    async answer(turns, service, reply) {
      const answered = await reply;
      const ms = turns?.copyWaitMs(service) ?? 0;
      if (ms > 0) await withDeadline(copied, ms, () => new Error('copy not landed')).catch(() => undefined);
      return answered;
    },
  };
}
