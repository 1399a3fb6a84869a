/**
 * Carries out one plan: the primary answers the agent; the secondary write and the shadow read run
 * off the agent's path and report to the observers (comparison counts, samples, outbox, metrics).
 */
import type { ServiceName } from '../services/registry.js';
import type { SuccessRule } from '../services/service.js';
import { compare } from '../comparison/compare.js';
import type { ComparisonRules } from '../comparison/rules.js';
import type { KeyActivity } from './key-activity.js';
import { flagContext, other, planFor, type FlagDecision, type Plan, type Side } from './plan.js';
import type { Route } from '../routes/route.js';
import { callSide, LateTranslation, type SideOptions } from './sides.js';
import type { Observation } from '../comparison/observation.js';
import { isSuccess } from './success.js';
import { failedOutcome, stillLanding } from './outcome.js';
import type { ExecutionObserver } from './observer.js';
import { keyOf, type SecondaryWrites } from './secondary.js';
import { KeyChains } from '../util/key-chains.js';
import type { MigrationStats } from './totals.js';
import type { KeyLocks, Translator } from '../services/types.js';
import { leavingBehind, type MissedWrite } from './gap-writes.js';
import { inWriteOrder, withSharedId } from './writes.js';
import type { NoiseBaseline } from '../comparison/noise.js';
import { Rechecks, type RecheckOptions, type Verdict } from './rechecks.js';
import { steadyOffsetS } from '../comparison/offset.js';
import type { LargeReplies } from './large-replies.js';
import { settle, type Settled } from '../util/settle.js';
import { afterOthersCopies, copyLanding, legacyMayLack, servedAhead, writtenAhead, type AheadDeps } from './turned.js';

export interface RunnerDeps {
  decide(service: ServiceName, ctx: { sessionId?: string; userId?: string }): FlagDecision;
  sides(service: ServiceName): SideOptions;
  successRules(service: ServiceName): SuccessRule[];
  /** `primary`: the side agents write first; with 'new', legacy gets each write later and stamps it then. */
  comparisonRules(service: ServiceName, action: string, primary: Side): ComparisonRules;
  activity: KeyActivity;
  secondary: SecondaryWrites;
  observer: ExecutionObserver;
  stats: MigrationStats;
  translators: Partial<Record<ServiceName, Translator>>;
  /**
   * Each key's lock shared by the replicas, held from a dual-write's intent to its primary's answer, so that writes of
   * one key sent to several replicas at once reach the secondary in the order the primary applied them; without, the
   * order holds within this process only (one replica, or agents routed to replicas by key).
   */
  writeOrder?: KeyLocks;
  /** Re-checks of reads skipped for a write in flight; without, a skipped read stays uncompared. */
  rechecks?: RecheckOptions;
  /** The A/A noise baseline; without, every difference counts. */
  noise?: NoiseBaseline;
  /** Notes a write that leaves a side behind (SideGaps). */
  missed?(route: Route, plan: Plan): MissedWrite | undefined;
  /** Replies too large to compare; without, every reply is compared. */
  large?: LargeReplies;
  /** The turns of each service's side written first; without, a turn is not watched (tests of one stage). */
  turns?: AheadDeps['turns'];
}

/** Runs one request: its plan from the flags, the primary's answer for the agent, the secondary write and shadow read. */
export class Runner {
  private readonly writes = new KeyChains();
  /** Running totals per service (demo summary, admin status). */
  readonly stats: MigrationStats;
  readonly secondary: SecondaryWrites;
  /** The translator of each service, over the new-side leg. */
  readonly translators: Partial<Record<ServiceName, Translator>>;
  private readonly rechecks: Rechecks | undefined;

  constructor(private readonly deps: RunnerDeps) {
    this.stats = deps.stats;
    this.secondary = deps.secondary;
    this.translators = deps.translators;
    this.rechecks = deps.rechecks && this.makeRechecks(deps.rechecks);
  }

  /** Gives up the re-checks still waiting (shutdown); they are counted as never compared. */
  close(): void {
    this.rechecks?.close();
    this.deps.turns?.close();
  }

  /** Resolves with the bytes for the agent; rejects (LegError / OrchestratorError) when the primary failed. */
  async run(route: Route): Promise<Buffer> {
    const started = performance.now();
    const flags = this.deps.decide(route.service, flagContext(route));
    // A read that changes state is carried as a write (in order, to both sides), its comparison made on landing.
    const mutating = route.spec?.kind === 'read' && route.spec.mutates === true;
    let plan = planFor(mutating ? 'write' : route.spec?.kind, flags);
    // Not from a side that still lacks writes to the key the other has (turned.ts).
    const moved = servedAhead(this.deps, route, plan, flags, mutating || route.spec?.kind === 'write');
    if (moved) plan = await moved;
    try {
      const reply =
        route.spec?.kind === 'write' || mutating
          ? await writtenAhead(this.deps, route, plan, this.deps.successRules(route.service), (p) =>
              this.write(withSharedId(route, p), p, mutating && planFor('read', flags).shadow),
            )
          : route.spec?.kind === 'read'
            ? await this.read(route, plan, flags)
            : await callSide(plan.primary, route, this.deps.sides(route.service));
      this.deps.observer.served({ route, side: reply.side, ok: true, latencyMs: performance.now() - started });
      return reply.bytes;
    } catch (err) {
      this.deps.observer.served({ route, side: plan.primary, ok: false, latencyMs: performance.now() - started });
      throw err;
    }
  }

  /** `compare`: a mutating read's replies compared once the secondary has it (in the key's order). */
  private async write(route: Route, plan: Plan, compare = false): Promise<Observation> {
    const key = activityKey(route);
    this.deps.activity.begin(key);
    if (!plan.writeSecondary)
      return plan.primary === 'legacy' ? this.alone(route, plan, key) : this.writes.run(key, (hold) => this.alone(route, plan, key, hold));
    const sides = this.deps.sides(route.service);
    // A key's writes one at a time from here, intent then primary call, so the secondary gets the primary's order.
    const { done, answer } = copyLanding(() => this.deps.activity.end(key));
    const written = this.writes.run(key, (hold) =>
      inWriteOrder(this.deps.writeOrder, route, done, async (keep) => {
        const answered: { primary?: Observation } = {};
        const landed = compare ? (reply: Observation) => answered.primary && this.compareLanded(route, answered.primary, reply) : undefined;
        const pending = await this.deps.secondary.open({ route, side: other(plan.primary), done, ...(landed ? { landed } : {}) });
        if (pending.refusal) throw pending.refusal;
        if (pending.behindCopies) await afterOthersCopies(this.deps, route, plan.primary, pending);
        const leg = plan.primary === 'legacy' ? sides.legacy : sides.newLeg;
        const on = leg.connection();
        let primary: Observation;
        try {
          primary = await callSide(plan.primary, route, sides, { createMissing: false, ...(pending.writeId ? { writeId: pending.writeId } : {}) });
        } catch (err) {
          // A timeout is no failure: the primary may still apply it, and the outbox finds out which, after a translation still
          // under way (till then the write looks absent). The key's next write, here or on another replica, waits (stillLanding).
          const outcome = failedOutcome(err, plan.primary, on, route.spec?.kind === 'read', this.deps.successRules(route.service));
          const landing = stillLanding(err, leg.timeoutMs);
          if (landing) [hold, keep].forEach((h) => h(landing));
          if (err instanceof LateTranslation) void err.settled.then(() => pending.settle(outcome));
          else pending.settle(outcome);
          throw err;
        }
        answered.primary = primary;
        // A read that answered has had its effect, whatever it said; a write by the route's success rules.
        const applied = route.spec?.kind === 'read' || isSuccess(primary.value, this.deps.successRules(route.service));
        pending.settle(applied ? 'applied' : 'refused');
        return primary;
      }),
    );
    return answer(this.deps.turns, route.service, written);
  }

  /** A write to one side only. A translation past its deadline may still send calls: it `hold`s the key till done. */
  private async alone(route: Route, plan: Plan, key: string, hold?: (until: Promise<unknown>) => void): Promise<Observation> {
    const sides = this.deps.sides(route.service);
    // No closure or async layer more where no side is left behind (every write at the off stage).
    const gap = this.deps.missed?.(route, plan);
    try {
      return await (gap ? leavingBehind(gap, () => callSide(plan.primary, route, sides)) : callSide(plan.primary, route, sides));
    } catch (err) {
      if (err instanceof LateTranslation) hold?.(err.settled);
      throw err;
    } finally {
      this.deps.activity.end(key);
    }
  }

  private read(route: Route, plan: Plan, flags: FlagDecision): Promise<Observation> {
    const sides = this.deps.sides(route.service);
    // Legacy alone (the off stage): nothing to compare, nothing to fall back to, no async layer more.
    if (!plan.shadow && plan.primary === 'legacy') return callSide('legacy', route, sides);
    return this.readEither(route, plan, flags, sides);
  }

  /** A read served from new, or shadowed: the shadow started alongside, a failed new side served from legacy. */
  private async readEither(route: Route, plan: Plan, flags: FlagDecision, sides: SideOptions): Promise<Observation> {
    const key = activityKey(route);
    const version = this.deps.activity.version(key);
    const shadowSide = other(plan.primary);
    // A key and action found too large to compare lately: no shadow read, the agent's reply is all.
    const large = plan.shadow && this.deps.large?.known(route) === true;
    // A write to the key under way, or one the shadow side lacks, voids the comparison: a re-check once the key settles.
    const skip = plan.shadow && !large && (plan.behind !== undefined || this.deps.activity.busy(key));
    // Started together so the shadow costs the agent nothing; it is awaited only off the reply path.
    const shadow = plan.shadow && !skip && !large ? settle(callSide(shadowSide, route, sides)) : undefined;
    // A/A: legacy read a second time for the same request, for the noise baseline.
    const again = shadow && this.deps.noise?.sample(routeKey(route)) ? settle(callSide('legacy', route, sides)) : undefined;
    let primary: Observation;
    try {
      primary = await callSide(plan.primary, route, sides);
    } catch (err) {
      // While legacy is still written, a read whose new side failed is served from legacy, and counted; not where legacy
      // may lack the key's writes (at new-primary their copies on their way there): an error, not a stale reply.
      if (plan.primary === 'legacy' || flags.legacyOff || (await legacyMayLack(this.deps, route, plan, flags))) throw err;
      this.deps.observer.fallback(route, err);
      return callSide('legacy', route, sides);
    }
    if (large) this.deps.observer.tooLarge({ route, bytes: primary.bytes.length });
    else if (skip) this.skipped(route, primary);
    else if (shadow) void Promise.all([shadow, again]).then(([s, a]) => this.compareShadow(route, primary, s, version, a));
    return primary;
  }

  /** A shadow comparison a write to its key overlapped: counted as skipped, and re-checked once the key settles. */
  private skipped(route: Route, primary: Observation): void {
    this.deps.observer.compared({ route, outcome: 'skipped', ...asPrimary(primary) });
    this.rechecks?.defer(route, primary.side);
  }

  /** A mutating read's comparison: the primary's reply with the secondary's, both made at the same point of the key's order. */
  private compareLanded(route: Route, primary: Observation, secondary: Observation): void {
    const [control, candidate] = primary.side === 'legacy' ? [primary, secondary] : [secondary, primary];
    const large = this.uncompared(route, control);
    if (large) return large.report();
    this.judge(route, primary.side, control, candidate);
  }

  private compareShadow(route: Route, primary: Observation, shadow: Settled<Observation>, version: string, again?: Settled<Observation>): void {
    if (!this.deps.activity.unchangedSince(activityKey(route), version)) return this.skipped(route, primary);
    if (!shadow.ok) {
      this.deps.observer.compared({ route, outcome: `${other(primary.side)}_error`, ...asPrimary(primary), error: shadow.error });
      return;
    }
    const [control, candidate] = primary.side === 'legacy' ? [primary, shadow.value] : [shadow.value, primary];
    const large = this.uncompared(route, control);
    if (large) return large.report();
    this.judge(route, primary.side, control, candidate, again?.ok ? this.learnNoise(route, control, again.value) : undefined);
  }

  /** A pair too large to compare, by legacy's reply (as received: free to measure): a verdict that only counts it. */
  private uncompared(route: Route, legacy: Observation): Verdict | undefined {
    const bytes = legacy.bytes.length;
    return this.deps.large?.tooLargeToCompare(route, bytes) ? { agree: true, report: () => this.deps.observer.tooLarge({ route, bytes }) } : undefined;
  }

  /** Two reads of legacy for one request: the fields that differed between them are noise, for it and as learned. */
  private learnNoise(route: Route, first: Observation, second: Observation): Set<string> {
    const { diffs } = compare(first.value, second.value, this.deps.comparisonRules(route.service, route.action, 'legacy'));
    const fields = this.deps.noise!.learn(routeKey(route), diffs);
    this.deps.observer.baselined({ route, fields: [...fields] });
    return fields;
  }

  /** Compares legacy's reply with the new side's, discounts noise, and reports the result. */
  private judge(route: Route, primary: Side, control: Observation, candidate: Observation, ownNoise?: Set<string>): void {
    this.weigh(route, primary, control, candidate, ownNoise).report();
  }

  /** Compares legacy's reply with the new side's and discounts noise; the result is reported by `report`. */
  private weigh(route: Route, primary: Side, control: Observation, candidate: Observation, ownNoise?: Set<string>): Verdict {
    const { diffs, ignored } = compare(control.value, candidate.value, this.deps.comparisonRules(route.service, route.action, primary));
    const { real, noise } = this.deps.noise ? this.deps.noise.discount(routeKey(route), diffs, ownNoise) : { real: diffs, noise: [] };
    return {
      agree: real.length === 0,
      report: (recheck) =>
        this.deps.observer.compared({
          route,
          outcome: real.length ? 'mismatch' : 'match',
          primary,
          control,
          candidate,
          diffs: real,
          offsetS: steadyOffsetS(real),
          ignored,
          ...(noise.length ? { noise } : {}),
          ...(recheck ? { recheck } : {}),
        }),
    };
  }

  private makeRechecks(opts: RecheckOptions): Rechecks {
    const { secondary, observer } = this.deps;
    return new Rechecks(
      {
        activity: this.deps.activity,
        keyOf: activityKey,
        unlanded: async (route) =>
          (await secondary.unlanded(route.service, route.key ?? '', 'new')) || secondary.unlanded(route.service, route.key ?? '', 'legacy'),
        readBoth: async (route) => {
          const sides = this.deps.sides(route.service);
          const twice = this.deps.noise?.sample(routeKey(route));
          const [legacy, fresh, again] = await Promise.all([
            callSide('legacy', route, sides),
            callSide('new', route, sides),
            twice ? settle(callSide('legacy', route, sides)) : undefined,
          ]);
          return { legacy, fresh, ...(again?.ok ? { again: again.value } : {}) };
        },
        compare: (route, primary, { legacy, fresh, again }) =>
          this.uncompared(route, legacy) ?? this.weigh(route, primary, legacy, fresh, again && this.learnNoise(route, legacy, again)),
        giveUp: (route, covered, why) => observer.recheckGivenUp({ route, covered, why }),
      },
      opts,
    );
  }
}

const routeKey = (route: Route): string => `${route.service}/${route.action}`;

const activityKey = (route: Route): string => keyOf(route.service, route.key);

/** The primary's reply, as the side a comparison took it from. */
const asPrimary = (primary: Observation) => ({ primary: primary.side, ...(primary.side === 'legacy' ? { control: primary } : { candidate: primary }) });
