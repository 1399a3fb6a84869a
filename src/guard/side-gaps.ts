/**
 * The sides' gaps as a part of the proxy: each stage served recorded (StagesReached), the gauge memshift_side_behind, an error
 * logged while agents read a side that missed writes, and a warning while a service is served at off after a later stage.
 */
import type { Part, PartContext } from '../part.js';
import { serviceSnapshot } from '../flags/source.js';
import { readsFrom } from '../flags/stage.js';
import { SIDES } from '../plan/plan.js';
import type { ServiceName } from '../services/registry.js';
import { childLogger } from '../telemetry/log.js';
import { defineGauge } from '../telemetry/metrics.js';
import { gapLine } from '../store/side-gaps.js';

const log = childLogger('side-gaps');

const behind = defineGauge('memshift.side.behind', {
  description:
    'Per service and side, 1 while the side has missed writes (legacy at complete, the orchestrator when served to legacy alone) no repair has copied back',
  combine: 'max',
});

/** How often the stages are looked at against the gaps. */
const CHECK_MS = 5_000;

export function sideGapsPart(ctx: PartContext): Part {
  const gaps = ctx.store.gaps;
  const removeGauge = behind.addSource(() =>
    ctx.services.flatMap((service) => SIDES.map((side) => ({ value: gaps.of(service, side) ? 1 : 0, attributes: { service, side } }))),
  );
  // Said once per service, side, stage and gap: the error stands in the log, the alert (MemshiftStaleReads) while it lasts.
  const said = new Map<string, string>();
  const check = () => {
    const snap = ctx.flags.snapshot();
    for (const service of ctx.services)
      for (const side of SIDES) {
        const gap = gaps.of(service, side);
        const stage = serviceSnapshot(snap, service).stage;
        const stale = gap && readsFrom(stage, side);
        const now = stale ? `${stage}|${gap.since.toISOString()}` : '';
        if (now === (said.get(`${service}|${side}`) ?? '')) continue;
        said.set(`${service}|${side}`, now);
        if (stale)
          log.error(
            { service, side, stage, behindSince: gap.since },
            `${service} at stage ${stage} serves reads from a side that ${gapLine(service, side, gap.since.toISOString())}`,
          );
      }
  };
  // Each stage served is recorded (the furthest one counts); off again after a stage past it is said once (rollbacks keep
  // dual writes: off is a person's choice, or flags reset by mistake).
  const floors = new Map<ServiceName, string>();
  const served = () => {
    const snap = ctx.flags.snapshot();
    for (const service of ctx.services) {
      const stage = serviceSnapshot(snap, service).stage;
      ctx.store.reached.note(service, stage);
      const furthest = ctx.store.reached.of(service);
      const short = furthest && stage === 'off' ? furthest.stage : '';
      if (short === (floors.get(service) ?? '')) continue;
      floors.set(service, short);
      if (short)
        log.warn(
          { service, stage, reached: furthest!.stage, reachedAt: furthest!.at },
          `${service} is served at off, though it was served at ${furthest!.stage} since ${furthest!.at.toISOString()}: its writes reach ` +
            `legacy only, and the orchestrator misses them until a repair from legacy. If its flags were reset by mistake (a flags file ` +
            `back to its defaults, a replica given the package's own copy), restore them`,
        );
    }
  };
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;
  return {
    name: 'side gaps',
    start() {
      served();
      unsubscribe = ctx.flags.onChange(served);
      timer = setInterval(() => {
        served();
        check();
      }, CHECK_MS).unref();
    },
    async close() {
      clearInterval(timer);
      unsubscribe?.();
      removeGauge();
    },
  };
}
