/**
 * What a background part (guard, report, reconcile schedule, admin status) plugs into a running proxy, as
 * a fastify plugin does into its server: an observer of the runner, admin routes, a start and a close hook
 * (gauges are registered when the part is made and removed by its close).
 */
import type { ServiceTotals } from './plan/totals.js';
import type { AdminRoutes } from './admin/auth.js';
import type { Config } from './config.js';
import type { Flags } from './flags/source.js';
import type { ExecutionObserver } from './plan/observer.js';
import type { SecondaryStats } from './plan/secondary.js';
import type { ServiceName } from './services/registry.js';
import type { Store } from './store/index.js';

export interface Part {
  /** Named in the log when its close keeps a shutdown waiting. */
  name: string;
  observer?: Partial<ExecutionObserver>;
  /** Routes under /admin, behind the admin token. */
  routes?: AdminRoutes[];
  /** Once the fronts are bound and the proxy is ready. */
  start?(): void;
  /** On shutdown, after the fronts and the secondary writes stopped, before the legs close. */
  close?(): Promise<void>;
}

/** What a part is made from. */
export interface PartContext {
  config: Config;
  /** This proxy's name in the fleet: host, pid and a draw (a restart is a new member; two proxies of one process differ). */
  replica: string;
  store: Store;
  flags: Flags;
  /** The services this proxy fronts. */
  services: ServiceName[];
  /** The secondary writes' figures (the runner is made after the parts, so this is a getter). */
  secondaryStats(): Promise<SecondaryStats>;
  /** This process's running totals of a service (the same getter's reason). */
  totals(service: ServiceName): ServiceTotals;
}
