/**
 * Scheduled reconciliation inside the running proxy (config reconcile.schedule): one run per service every
 * `everyMinutes`, due by the last scheduled run the store holds (any replica's), looked at every tenth of the period
 * (at most a minute). Replicas share the work: a service's advisory lock lets one run at a time, and a run due is
 * taken by whichever replica looks first.
 */
import { serviceConfigOf, type Config } from '../config.js';
import type { Flags } from '../flags/source.js';
import { serviceNames } from '../services/registry.js';
import type { Store } from '../store/index.js';
import { childLogger } from '../telemetry/log.js';
import { ReconcileBusyError } from './reconcile.js';
import { listReconcileRuns } from './runs.js';
import { reconcileService } from './sides.js';

const log = childLogger('reconcile.schedule');

export interface ReconcileSchedule {
  /** Runs the services due now (what the timer does). */
  runOnce(): Promise<void>;
  /** Stops the timer and waits for a round in progress. */
  stop(): Promise<void>;
}

export function startReconcileSchedule(config: Config, store: Store, flags: Flags): ReconcileSchedule | undefined {
  const s = config.reconcile.schedule;
  if (!s.enabled) return undefined;
  const intervalMs = s.everyMinutes * 60_000;
  const services = (s.services ?? serviceNames()).filter((name) => serviceConfigOf(config, name).enabled);
  let stopped = false;
  let round: Promise<void> | undefined;

  const runService = async (service: (typeof services)[number]) => {
    // Not by this process's start: a fleet whose replicas live less than the period (a deploy a day, the autoscaler)
    // would never reach a first run. One still running is another replica's (its lock says so) or a killed one's (resumed).
    const [last] = await listReconcileRuns(store.pool, { service, trigger: 'scheduled', limit: 1 });
    if (last && Date.now() - last.startedAt.getTime() < intervalMs) return;
    try {
      const { run, remaining, gap } = await reconcileService(config, store, flags, service, { repair: s.repair, trigger: 'scheduled' });
      log.info({ service, run: run.id, remaining, ...(gap ? { gap } : {}) }, 'scheduled reconciliation done');
    } catch (err) {
      if (err instanceof ReconcileBusyError) log.info({ service }, 'reconciliation already running elsewhere; skipped');
      else log.error({ err, service }, 'scheduled reconciliation failed');
    }
  };
  const runOnce = () =>
    (round ??= (async () => {
      for (const service of services) if (!stopped) await runService(service);
    })().finally(() => (round = undefined)));

  const timer = setInterval(
    () => void runOnce().catch((err: Error) => log.warn({ err }, 'scheduled reconciliation not looked at')),
    Math.min(intervalMs / 10, 60_000),
  );
  timer.unref();
  return {
    runOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await round;
    },
  };
}
