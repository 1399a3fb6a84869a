/** Starts the three simulated legacy services and the orchestrator on real sockets, plus their fault control. */
import { childLogger } from '../../telemetry/log.js';
import { ContextualMemoryModel, type ContextualMode } from './contextual-memory.js';
import { startControl } from './control.js';
import { SIM_TARGETS, mergeFaults, noFaults, type Faults, type FaultsPatch, type SimTarget } from './faults.js';
import { JarvisMemoryModel } from './jarvis-memory.js';
import { OrchestratorModel } from './orchestrator.js';
import { RepServer } from './rep-server.js';
import { SessionMemoryModel } from './session-memory.js';
import { attachStorage, type StorageOptions } from './storage/index.js';
import type { SimModels } from './models.js';
import { SIM_PORTS } from './services.js';

export type { SimTarget };
export { SIM_TARGETS };

const log = childLogger('sim');

const DEFAULT_SIM_PORTS: Record<SimTarget, number> = SIM_PORTS;
export const DEFAULT_CONTROL_PORT = 5580;

export interface SimOptions {
  host?: string;
  /** 0 binds an ephemeral port (kept across down / up). */
  ports?: Partial<Record<SimTarget, number>>;
  contextualMode?: ContextualMode;
  faults?: Partial<Record<SimTarget, FaultsPatch>>;
  /** HTTP control port; 0 for ephemeral, null for none. */
  controlPort?: number | null;
  /** Bearer token the control endpoint requires (default MEMSHIFT_ADMIN_TOKEN); without one it is off. */
  controlToken?: string;
  /** Persistence (default: everything in memory): legacy files under `dataDir`, the orchestrator in PostgreSQL. */
  storage?: StorageOptions;
}

export interface SimHandle {
  endpoints: Record<SimTarget, string>;
  controlUrl?: string;
  /** Merges a patch into the target's faults; a change of `down` takes effect asynchronously. */
  setFaults(target: SimTarget, patch: FaultsPatch): void;
  applyFaults(target: SimTarget, patch: FaultsPatch): Promise<void>;
  getFaults(): Record<SimTarget, Faults>;
  down(target: SimTarget): Promise<void>;
  up(target: SimTarget): Promise<void>;
  models: SimModels;
  /** Writes persisted state now (a no-op without storage). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

const perTarget = <T>(make: (t: SimTarget) => T): Record<SimTarget, T> => Object.fromEntries(SIM_TARGETS.map((t) => [t, make(t)])) as Record<SimTarget, T>;

export async function startSimulators(opts: SimOptions = {}): Promise<SimHandle> {
  const host = opts.host ?? '127.0.0.1';
  const models: SimModels = {
    'session-memory': new SessionMemoryModel(),
    'contextual-memory': new ContextualMemoryModel({ mode: opts.contextualMode ?? 'faithful' }),
    'jarvis-memory': new JarvisMemoryModel(),
    orchestrator: new OrchestratorModel(),
  };
  const storage = await attachStorage(models, opts.storage ?? {});
  const faults = perTarget((t) => mergeFaults(noFaults(), opts.faults?.[t] ?? {}));
  const servers = perTarget((t) => {
    const port = opts.ports?.[t] ?? DEFAULT_SIM_PORTS[t];
    return new RepServer(t, models[t], `tcp://${host}:${port === 0 ? '*' : port}`, () => faults[t]);
  });

  const applyFaults = async (t: SimTarget, patch: FaultsPatch): Promise<void> => {
    faults[t] = mergeFaults(faults[t], patch);
    if (faults[t].down) await servers[t].stop();
    else await servers[t].start();
  };
  const getFaults = () => perTarget((t) => structuredClone(faults[t]));

  let control: Awaited<ReturnType<typeof startControl>> | undefined;
  const close = async () => {
    await control?.close();
    await Promise.all(SIM_TARGETS.map((t) => servers[t].stop()));
    await storage.close();
  };
  try {
    for (const t of SIM_TARGETS) {
      // Bind even a target that starts down, so its port is known and kept for `up`.
      await servers[t].start();
      if (faults[t].down) await servers[t].stop();
    }
    if (opts.controlPort !== null) {
      control = await startControl(
        { getFaults, applyFaults, resetFaults: () => Promise.all(SIM_TARGETS.map((t) => applyFaults(t, noFaults()))).then(() => {}) },
        host,
        opts.controlPort ?? DEFAULT_CONTROL_PORT,
        ...(opts.controlToken ? [opts.controlToken] : []),
      );
    }
  } catch (err) {
    await close();
    throw err;
  }

  return {
    endpoints: perTarget((t) => servers[t].endpoint),
    ...(control ? { controlUrl: control.url } : {}),
    setFaults: (t, patch) => void applyFaults(t, patch).catch((err) => log.error({ err, target: t }, 'applying faults failed')),
    applyFaults,
    getFaults,
    down: (t) => applyFaults(t, { down: true }),
    up: (t) => applyFaults(t, { down: false }),
    models,
    flush: () => storage.flush(),
    close,
  };
}
