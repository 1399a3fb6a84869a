/**
 * Wires the runner for every service: flags decide the plan, the runner carries it out over the
 * legacy legs and the translators, and observers (store, running totals) hear what happened.
 */
import type { Config } from '../config.js';
import { newBackendOf, replyShapeOf, translatorOptionsOf, writeSuccessOf } from '../config.js';
import type { Flags } from '../flags/source.js';
import type { Leg } from '../legs/types.js';
import { serviceOf, type ServiceName } from '../services/registry.js';
import { LegOrchestratorClient } from '../services/orchestrator-client.js';
import type { Translator } from '../services/types.js';
import { reshaped } from '../services/translator.js';
import { boundedIds } from '../services/bounded-ids.js';
import type { Store } from '../store/index.js';
import { rulesFor, type ComparisonOverrides, type ComparisonRules } from '../comparison/rules.js';
import { LargeReplies } from './large-replies.js';
import { Runner } from './runner.js';
import { Turns, turnWatchMs, type TurnFleet } from './turns.js';
import { NoiseBaseline } from '../comparison/noise.js';
import { KeyActivity } from './key-activity.js';
import { fanOut, type ExecutionObserver } from './observer.js';
import { InMemoryWrites, writeApplier, type ApplyWrite, type SecondaryWrites } from './secondary.js';
import type { SideOptions } from './sides.js';
import { MigrationStats } from './totals.js';
import { storeObserver } from './store-observer.js';

export interface RunnerWiring {
  config: Config;
  flags: Flags;
  store: Store;
  legacyLegs: Partial<Record<ServiceName, Leg>>;
  /** The new-side leg of each service (usually the one shared orchestrator leg). */
  newLegs: Partial<Record<ServiceName, Leg>>;
  /** Extra listeners (metrics, tests). */
  observers?: Partial<ExecutionObserver>[];
  /** Where secondary writes go (the durable outbox); default in memory, per-key ordered. */
  secondary?: (apply: ApplyWrite, observer: ExecutionObserver, sides: (service: ServiceName) => SideOptions) => SecondaryWrites;
  /** The other replicas sharing the store, as a turn needs them (Turns); without, this one is alone. */
  fleet?: Omit<TurnFleet, 'copyWaitMs'>;
}

/**
 * A route's comparison rules: the time tolerance every route has, its read action's defaults (the service
 * module's) and the config's override on top.
 */
export const routeRules = (overrides: ComparisonOverrides | undefined, service: ServiceName, action: string, timeToleranceS = 0): ComparisonRules => {
  const own = Object.hasOwn(serviceOf(service).actions, action) ? serviceOf(service).actions[action]?.compare : undefined;
  return rulesFor({ timeToleranceS, ...own }, overrides?.[service]?.[action]);
};

export function createRunner(deps: RunnerWiring): Runner {
  const { config } = deps;
  const stats = new MigrationStats();
  const observer = fanOut([stats, storeObserver(deps.store), ...(deps.observers ?? [])]);
  const translators: Partial<Record<ServiceName, Translator>> = {};
  const sides: Partial<Record<ServiceName, SideOptions>> = {};
  for (const [service, legacy] of Object.entries(deps.legacyLegs) as [ServiceName, Leg][]) {
    const newLeg = deps.newLegs[service]!;
    const newTimeoutMs = newBackendOf(config, service).timeoutMs;
    // Half the new side's budget: a silent store fails the request with its own name, before the budget runs out.
    const ids = boundedIds(deps.store.idMap, Math.ceil(newTimeoutMs / 2));
    const own = serviceOf(service).translator(new LegOrchestratorClient(newLeg), ids, {
      locks: deps.store.keyLocks,
      ...translatorOptionsOf(config, service),
    });
    const shape = replyShapeOf(config, service);
    const translator = shape ? reshaped(own, shape) : own;
    translators[service] = translator;
    sides[service] = {
      legacy,
      newLeg,
      translator,
      newTimeoutMs,
      newEndpoint: newLeg.endpoint,
    };
  }
  const rulesByRoute = new Map<string, ComparisonRules>();
  const apply = writeApplier(
    (s) => sides[s]!,
    (s) => writeSuccessOf(config, s),
  );
  const secondary = deps.secondary?.(apply, observer, (s) => sides[s]!) ?? new InMemoryWrites(apply, observer);
  return new Runner({
    stats,
    translators,
    decide: (service, ctx) => deps.flags.decide(service, ctx),
    sides: (service) => sides[service]!,
    successRules: (service) => writeSuccessOf(config, service),
    comparisonRules: (service, action, primary) => {
      // Resolved once per route and primary: merged overrides are new objects, and compiled rules are cached per object.
      const key = `${service}/${action}/${primary}`;
      let rules = rulesByRoute.get(key);
      if (!rules) {
        rules = routeRules(config.comparison, service, action, config.shadow.timeToleranceS);
        // Written after the orchestrator (new-primary), legacy stamps each write when it gets it: its times tell how
        // late a write reached it (an outbox retry, JarvisMemoryAgent restarting), not the record's, and within a
        // tolerance every later read of a key written late would count as a mismatch, for the guard to roll back on.
        if (primary === 'new') rules = { ...rules, timeToleranceS: Infinity };
        rulesByRoute.set(key, rules);
      }
      return rules;
    },
    activity: new KeyActivity(),
    secondary,
    turns: new Turns(
      (s, side, before) => secondary.anyUnlanded(s, side, before),
      Object.keys(sides) as ServiceName[],
      turnWatchMs(config.flags.refreshIntervalMs),
      config.outbox.whenCopiesLate,
      { ...deps.fleet, copyWaitMs: config.outbox.turnCopyWaitMs },
    ),
    ...(config.outbox.keyOrder === 'replicas' ? { writeOrder: deps.store.keyLocks.writeOrder } : {}),
    observer,
    ...(config.shadow.recheck.enabled ? { rechecks: config.shadow.recheck } : {}),
    ...(config.shadow.baseline.share > 0 || config.shadow.baseline.minReads > 0 ? { noise: new NoiseBaseline(config.shadow.baseline) } : {}),
    ...(config.shadow.maxCompareBytes > 0 ? { large: new LargeReplies(config.shadow.maxCompareBytes) } : {}),
    // Legacy at complete, new under the kill switch, or new at off again once the service was served past off.
    missed: (route, plan) => {
      const side = plan.skips ?? (!plan.writeSecondary && plan.primary === 'legacy' && deps.store.reached.migrated(route.service) ? 'new' : undefined);
      if (!side) return undefined;
      observer.sideSkipped({ route, side });
      // Bounded as an outbox intent is: the store's answer a write may wait for.
      const stored = deps.store.gaps.record(route.service, side, config.outbox.intentTimeoutMs);
      return { ...(stored ? { stored } : {}), settled: () => deps.store.gaps.note(route.service, side) };
    },
  });
}
