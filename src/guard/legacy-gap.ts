/** Legacy's gaps as a part of the proxy: the gauge memshift_legacy_behind, and an error logged while agents read a legacy store that missed writes. */
import type { Part, PartContext } from '../part.js';
import { serviceSnapshot } from '../flags/source.js';
import { STAGE_PLANS } from '../flags/stage.js';
import type { ServiceName } from '../services/registry.js';
import { childLogger } from '../telemetry/log.js';
import { defineGauge } from '../telemetry/metrics.js';
import { repairFromNew } from '../store/legacy-gaps.js';

const log = childLogger('legacy-gap');

const behind = defineGauge('memshift.legacy.behind', {
  description: "1 while a service's legacy store has missed writes (served at complete) that no repair from the orchestrator has copied back",
  combine: 'max',
});

/** How often the stages are looked at against the gaps. */
const CHECK_MS = 5_000;

export function legacyGapPart(ctx: PartContext): Part {
  const gaps = ctx.store.legacyGaps;
  const removeGauge = behind.addSource(() => ctx.services.map((service) => ({ value: gaps.of(service) ? 1 : 0, attributes: { service } })));
  // Said once per service, stage and gap: the error stands in the log, the alert (MemshiftStaleLegacyReads) while it lasts.
  const said = new Map<ServiceName, string>();
  const check = () => {
    const snap = ctx.flags.snapshot();
    for (const service of ctx.services) {
      const gap = gaps.of(service);
      const stage = serviceSnapshot(snap, service).stage;
      const stale = gap && STAGE_PLANS[stage].readNew !== 'always';
      const key = stale ? `${stage}|${gap.since.toISOString()}` : '';
      if (key === (said.get(service) ?? '')) continue;
      said.set(service, key);
      if (stale)
        log.error(
          { service, stage, legacyBehindSince: gap.since },
          `${service} serves reads from legacy (stage ${stage}), which has missed writes since ${gap.since.toISOString()} (served at complete): ` +
            `agents may read stale data. Go to new-primary (legacy is written there again), run ${repairFromNew(service)}, then move back`,
        );
    }
  };
  let timer: NodeJS.Timeout | undefined;
  return {
    name: 'legacy gaps',
    start() {
      timer = setInterval(check, CHECK_MS).unref();
    },
    async close() {
      clearInterval(timer);
      removeGauge();
    },
  };
}
