/**
 * openFlags: the migration flags as memshift reads them, evaluated by unleash-client either offline
 * from the flags file or against a real Unleash server (until it answers, the flags last fetched from it, kept in
 * the state store, or else the same file).
 *
 * Over 300 lines: one Flags over both sources, the file and Unleash, which differ in a dozen lines.
 */
import type { EventEmitter } from 'node:events';
import { Unleash, UnleashEvents, type Context } from 'unleash-client';
import { UnleashWatch, type UnleashFetching } from './unleash-watch.js';
import { serviceNames, type ServiceName } from '../services/registry.js';
import { childLogger } from '../telemetry/log.js';
import { definitionState, onForEveryone, readFlagDefinitions, resolveFlagsFile } from './definitions.js';
import { FileFlagRepository } from './file-repository.js';
import { HeldFlags, type HeldFlag } from './held.js';
import { LastFetched, type FetchedFlagsKeeper } from './last-fetched.js';
import { allFlagNames, flagName, KILL_SWITCH, serviceFlagNames } from './names.js';
import { deriveStage, isOn, STAGE_PLANS, type FlagState, type FlagStates, type Stage } from './stage.js';

const log = childLogger('flags');

export interface OpenFlagsOptions {
  /** Flag definitions; default MEMSHIFT_FLAGS_FILE, else flags/memshift.json. */
  file?: string;
  /** Unleash API url (…/api/); default UNLEASH_URL. Without one, flags are read offline from the file. */
  url?: string;
  /** Unleash client API token; default UNLEASH_API_TOKEN. */
  apiToken?: string;
  appName?: string;
  /** How often to fetch from Unleash. */
  refreshIntervalMs?: number;
  /** Offline: stat poll interval behind fs.watch. */
  pollIntervalMs?: number;
  /** Unleash mode: how long openFlags waits for the first definitions before answering all-off. */
  readyTimeoutMs?: number;
  /** Unleash mode: where the flags fetched are kept for a start while Unleash is out of reach (the state store); else the file answers then. */
  fetched?: FetchedFlagsKeeper;
  env?: NodeJS.ProcessEnv;
}

interface DecideContext {
  sessionId?: string;
  userId?: string;
}

export interface FlagDecision {
  killSwitch: boolean;
  /** Under the kill switch: whether the service's stage would write the orchestrator (its writes now miss it). */
  dualWrite: boolean;
  shadowRead: boolean;
  readNew: boolean;
  newPrimary: boolean;
  legacyOff: boolean;
}

interface ServiceSnapshot {
  stage: Stage;
  /** Keyed by full flag name. */
  flags: Record<string, FlagState>;
}

export interface FlagsSnapshot {
  killSwitch: boolean;
  services: Partial<Record<ServiceName, ServiceSnapshot>>;
}

/** One service's flags and stage; every registered service has them. */
export function serviceSnapshot(snap: FlagsSnapshot, service: ServiceName): ServiceSnapshot {
  const one = snap.services[service];
  if (!one) throw new Error(`no flags for service "${service}"`);
  return one;
}

export interface Flags {
  readonly source: 'file' | 'unleash';
  /** The flags file read (offline), or the bootstrap file (Unleash): where file-sourced controls write. */
  readonly file: string;
  /** The plan inputs for one request. shadowRead is a fresh draw per call; readNew is sticky per session / user. */
  decide(service: ServiceName, ctx: DecideContext): FlagDecision;
  /** The flag definitions (after local overrides) and the stage each service is in. */
  snapshot(): FlagsSnapshot;
  /** Called after a reload, refresh or local override that changed something; returns an unsubscribe. */
  onChange(cb: () => void): () => void;
  /**
   * Forces a flag on this instance whatever Unleash or the file says: off (false), fully on (true, e.g.
   * the guard keeping dual writes on while it turns reads back), or back to the source's value (null).
   */
  setLocalOverride(flagName: string, enabled: boolean | null): void;
  /** The flags forced on this instance, by name. */
  localOverrides(): Record<string, boolean>;
  /** What the source (Unleash or the file) says of a flag, before local overrides. */
  definition(flagName: string): FlagState;
  /** Unleash's answers to this replica's fetches; undefined with the file as source. */
  fetching(): UnleashFetching | undefined;
  /**
   * Resolves once Unleash has answered or failed (at most `timeoutMs`; at once with the file as source). A start is ready
   * on the flags kept before Unleash answers; a command that looks at the flags now waits for Unleash's own.
   */
  answered(timeoutMs: number): Promise<void>;
  /** memshift's flags Unleash no longer defines, held at their last definition (none with the file as source). */
  held(): HeldFlag[];
  /** memshift's flags the source does not define and none is held for: never synced, or archived before this process saw them. */
  undefinedFlags(): string[];
  close(): Promise<void>;
}

const KILLED: FlagDecision = {
  killSwitch: true,
  dualWrite: false,
  shadowRead: false,
  readNew: false,
  newPrimary: false,
  legacyOff: false,
};

export async function openFlags(opts: OpenFlagsOptions = {}): Promise<Flags> {
  const env = opts.env ?? process.env;
  const file = resolveFlagsFile(opts.file, env);
  const url = opts.url ?? env.UNLEASH_URL;
  return url ? openServer(url, file, opts, env) : openOffline(file, opts);
}

async function openOffline(file: string, opts: OpenFlagsOptions): Promise<Flags> {
  const unleash = new Unleash({
    appName: opts.appName ?? 'memshift',
    // Required by the constructor, never contacted: the repository is local and metrics are off.
    url: 'http://offline.invalid/api/',
    repository: new FileFlagRepository(file, opts.pollIntervalMs),
    disableMetrics: true,
    disableAutoStart: true,
    skipInstanceCountWarning: true,
  });
  const flags = new UnleashFlags(unleash, 'file', file);
  await unleash.start();
  flags.resetSignature();
  return flags;
}

async function openServer(url: string, file: string, opts: OpenFlagsOptions, env: NodeJS.ProcessEnv): Promise<Flags> {
  const bootstrap = await readFlagDefinitions(file);
  if (!bootstrap.ok)
    log.warn(
      { file, error: bootstrap.error },
      'flags file unreadable: until Unleash answers, the flags last fetched from it answer, or else every flag is off',
    );
  const apiToken = opts.apiToken ?? env.UNLEASH_API_TOKEN;
  // Until the first fetch succeeds, the flags last fetched answer, or else the file's (fetched data always wins).
  // Not unleash-client's bootstrap, which it would keep as if fetched; not its default file in os.tmpdir(), which
  // a new pod does not have.
  const appName = opts.appName ?? 'memshift';
  const held = new HeldFlags(allFlagNames(), appName);
  await held.start();
  const fromFile = bootstrap.ok ? { version: 2, features: bootstrap.doc.features, segments: bootstrap.doc.segments } : undefined;
  const kept = new LastFetched(opts.fetched, fromFile, held);
  const unleash = new Unleash({
    appName,
    url,
    refreshInterval: opts.refreshIntervalMs ?? 1000,
    customHeaders: apiToken ? { Authorization: apiToken } : undefined,
    storageProvider: kept,
    skipInstanceCountWarning: true,
  });
  const flags = new UnleashFlags(unleash, 'unleash', file, kept, held);
  await readyOrTimeout(unleash, opts.readyTimeoutMs ?? 5000);
  flags.resetSignature();
  return flags;
}

function readyOrTimeout(unleash: Unleash, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      unleash.off(UnleashEvents.Ready, done);
      resolve();
    };
    const timer = setTimeout(() => {
      log.warn({ waitedMs: ms }, 'Unleash not ready, every flag off until it answers');
      done();
    }, ms);
    unleash.once(UnleashEvents.Ready, done);
  });
}

/** A decision that did not depend on the request, and the flags it counted (name, answer) for Unleash's usage metrics. */
interface FixedDecision {
  decision: FlagDecision;
  counted: [string, boolean][];
}

class UnleashFlags implements Flags {
  private readonly listeners = new Set<() => void>();
  private readonly overrides = new Map<string, boolean>();
  /**
   * Per service, its decision while no flag it reads needs the request (off, on for everyone, or forced):
   * the usual case outside a partial rollout, worked out once per change instead of on every request.
   */
  private readonly fixed = new Map<ServiceName, FixedDecision>();
  /** Set while a decision is being worked out: what it depended on. */
  private deciding: { contextual: boolean; counted: [string, boolean][] } | undefined;
  private signature = '';
  private closed = false;
  private readonly watch: UnleashWatch | undefined;

  constructor(
    private readonly unleash: Unleash,
    readonly source: 'file' | 'unleash',
    readonly file: string,
    private readonly kept?: LastFetched,
    private readonly holding?: HeldFlags,
  ) {
    this.watch = source === 'unleash' ? new UnleashWatch(unleash) : undefined;
    unleash.on(UnleashEvents.Error, (err: Error) => log.warn({ err }, 'unleash error'));
    unleash.on(UnleashEvents.Warn, (msg: unknown) => log.debug({ msg }, 'unleash warning'));
    const changed = () => {
      if (this.resetSignature()) this.notify();
    };
    // Before the answer is kept (unleash-client keeps it after this event): the held definitions are kept with it.
    unleash.on(UnleashEvents.Changed, () => {
      holding?.observe(unleash.getFeatureToggleDefinitions(true) ?? []);
      changed();
    });
    holding?.onChange(changed);
  }

  /** Records the current definitions; true when they differ from the last recorded ones. */
  resetSignature(): boolean {
    const next = JSON.stringify([this.unleash.getFeatureToggleDefinitions(true), this.held().map((h) => h.name)]);
    const changed = next !== this.signature;
    this.signature = next;
    return changed;
  }

  decide(service: ServiceName, ctx: DecideContext): FlagDecision {
    const fixed = this.fixed.get(service);
    if (fixed) {
      for (const [name, enabled] of fixed.counted) this.unleash.count(name, enabled);
      return fixed.decision;
    }
    const deciding = (this.deciding = { contextual: false, counted: [] });
    try {
      const decision = this.decideNow(service, ctx);
      if (!deciding.contextual) this.fixed.set(service, { decision: Object.freeze({ ...decision }), counted: deciding.counted });
      return decision;
    } finally {
      this.deciding = undefined;
    }
  }

  private decideNow(service: ServiceName, ctx: DecideContext): FlagDecision {
    const context: Context = { sessionId: ctx.sessionId, userId: ctx.userId, properties: { service } };
    const killed = this.evaluate(KILL_SWITCH, context);
    // On/off flags are evaluated per request (constraints apply); rollout flags select the stage by
    // their definition, then draw per request below.
    const states: FlagStates = {};
    for (const kind of ['dual-write', 'new-primary', 'legacy-off'] as const) {
      states[flagName(service, kind)] = { enabled: this.evaluate(flagName(service, kind), context) };
    }
    for (const kind of ['shadow-read', 'read-new'] as const) {
      states[flagName(service, kind)] = this.state(flagName(service, kind));
    }
    const stage = deriveStage(service, states, false);
    if (killed) return { ...KILLED, dualWrite: stage !== 'off' };
    const plan = STAGE_PLANS[stage];
    return {
      killSwitch: false,
      dualWrite: plan.dualWrite,
      newPrimary: plan.newPrimary,
      legacyOff: plan.legacyOff,
      readNew: plan.readNew === 'always' || (plan.readNew === 'rollout' && this.evaluate(flagName(service, 'read-new'), context)),
      shadowRead: plan.shadow && this.evaluate(flagName(service, 'shadow-read'), context),
    };
  }

  snapshot(): FlagsSnapshot {
    const killSwitch = isOn(this.state(KILL_SWITCH));
    const services = Object.fromEntries(
      serviceNames().map((s) => {
        const flags = Object.fromEntries(serviceFlagNames(s).map((n) => [n, this.state(n)]));
        return [s, { stage: deriveStage(s, flags, killSwitch), flags }];
      }),
    );
    return { services, killSwitch };
  }

  onChange(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  setLocalOverride(name: string, enabled: boolean | null): void {
    if (!allFlagNames().includes(name)) throw new Error(`unknown flag "${name}"`);
    const had = this.overrides.get(name);
    if (enabled === null) this.overrides.delete(name);
    else this.overrides.set(name, enabled);
    if (had !== this.overrides.get(name)) {
      log.info({ flag: name, override: enabled }, 'local flag override');
      this.notify();
    }
  }

  localOverrides(): Record<string, boolean> {
    return Object.fromEntries(this.overrides);
  }

  definition(name: string): FlagState {
    const held = this.holding?.held(name);
    return held ? { ...definitionState(held), held: true } : definitionState(this.unleash.getFeatureToggleDefinition(name));
  }

  fetching(): UnleashFetching | undefined {
    return this.watch?.state();
  }

  async answered(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const done = () => this.watch === undefined || this.watch.state().answeredAt !== undefined || this.watch.state().failing !== undefined;
    while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  held(): HeldFlag[] {
    return this.holding?.list() ?? [];
  }

  undefinedFlags(): string[] {
    return allFlagNames().filter((n) => !this.unleash.getFeatureToggleDefinition(n) && !this.holding?.held(n));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watch?.close();
    this.listeners.clear();
    this.kept?.close();
    this.holding?.close();
    this.unleash.destroy();
    // unleash-client 6 drops its repository's listeners on destroy, while a fetch may still be under way: that
    // fetch failing (Unleash down or hung) would be an 'error' nobody hears, which throws and ends the process in
    // the middle of its shutdown. One listener stays there for it.
    (this.unleash as unknown as { repository?: Pick<EventEmitter, 'on'> }).repository?.on(UnleashEvents.Error, (err: Error) =>
      log.debug({ err }, 'unleash fetch failed after the flags were closed'),
    );
  }

  private evaluate(name: string, context: Context): boolean {
    const forced = this.overrides.get(name);
    if (forced !== undefined) return forced;
    // A flag off (or missing), or on for everyone, answers the same whatever the context: skip the
    // evaluation (most flags, most of the time) but keep Unleash's usage metrics counting it.
    const held = this.holding?.held(name);
    // A held flag is not Unleash's to count: its own offline client evaluates it.
    const by = held ? this.holding!.evaluator : this.unleash;
    const feature = held ?? this.unleash.getFeatureToggleDefinition(name);
    const fixed = feature?.enabled !== true ? false : onForEveryone(feature) ? true : undefined;
    if (fixed !== undefined) {
      if (!held) {
        this.unleash.count(name, fixed);
        this.deciding?.counted.push([name, fixed]);
      }
      return fixed;
    }
    if (this.deciding) this.deciding.contextual = true;
    return by.isEnabled(name, context);
  }

  private state(name: string): FlagState {
    const state = this.definition(name);
    const forced = this.overrides.get(name);
    if (forced === undefined) return state;
    // Forced on means fully on: a rollout's percentage no longer applies.
    return forced ? { enabled: true } : { ...state, enabled: false, forcedOff: true };
  }

  private notify(): void {
    this.fixed.clear();
    for (const cb of this.listeners) {
      try {
        cb();
      } catch (err) {
        log.error({ err }, 'flags onChange listener failed');
      }
    }
  }
}
