/** The guard as a part of the proxy: its observer, its tripped gauge, its events table, Unleash access and the fleet. */
import { configuredAdmin } from '../admin/unleash-admin.js';
import type { Part, PartContext } from '../part.js';
import { defineGauge } from '../telemetry/metrics.js';
import { GuardEvents } from './events.js';
import { Guard } from './guard.js';
import { GuardFleet } from './fleet.js';

const tripped = defineGauge('memshift.guard.tripped', { description: '1 while the guard holds a service rolled back', combine: 'max' });

/** The guard's events (recorded even with the guard off, for the admin API), and the guard when config enables it. */
export function guardPart(ctx: PartContext): Part & { guard?: Guard; events: GuardEvents } {
  const { config, flags, services } = ctx;
  const events = new GuardEvents(ctx.store.pool);
  const unleash = configuredAdmin(config.flags);
  // A restarted replica is a new member whose predecessor's buckets age out of the window.
  const fleet = config.guard.fleet ? new GuardFleet(ctx.store.pool, ctx.replica) : undefined;
  const guard = config.guard.enabled
    ? new Guard({
        config: config.guard,
        flags,
        services,
        events,
        unleash,
        legacyGap: (s) => ctx.store.gaps.of(s, 'legacy'),
        ...(fleet ? { fleet } : {}),
      }).start()
    : undefined;
  // Off, the guard holds nothing rolled back: its gauge says so (0) rather than nothing.
  const removeGauge = tripped.addSource(() => {
    const now = new Set(guard?.tripped() ?? []);
    return services.map((service) => ({ value: now.has(service) ? 1 : 0, attributes: { service } }));
  });
  if (!guard) return { name: 'guard', events, close: async () => removeGauge() };
  return {
    name: 'guard',
    guard,
    events,
    observer: guard.observer,
    async close() {
      removeGauge();
      await guard.close();
    },
  };
}
