/**
 * memshift's flags that Unleash stopped defining, held at their last definition. unleash-client answers "off" for a
 * flag it does not know, so a flag archived in Unleash (which marks a release flag stale after 40 days and offers to
 * archive flags marked completed), deleted, or out of the client token's project would take a service at complete back
 * to off: reads from legacy, which missed every write since. Held definitions are evaluated by an offline
 * unleash-client of their own (a rollout draws the same sessions as before) and kept with the flags last fetched, so a
 * replica started later holds them too. A flag defined again, in any state, is Unleash's once more.
 */
import { Unleash, type ClientFeaturesResponse } from 'unleash-client';
import { childLogger } from '../telemetry/log.js';
import { definitionState, type FeatureDefinition, type SegmentDefinition } from './definitions.js';
import { DefinitionsRepository } from './definitions-repository.js';
import { flagWords } from './stage.js';

const log = childLogger('flags');

/** A definition as unleash-client gives it with its segments (getFeatureToggleDefinitions(true)). */
export type DefinedFeature = NonNullable<ReturnType<Unleash['getFeatureToggleDefinitions']>>[number];

interface Seen {
  feature: FeatureDefinition;
  segments: SegmentDefinition[];
}

export interface HeldFlag {
  name: string;
  /** When this replica found Unleash no longer defining it. */
  since: Date;
}

/** A definition with its segments given by id, the way a repository serves them. */
function seen(f: DefinedFeature): Seen {
  const segments = f.strategies?.flatMap((s) => (s.segments ?? []).filter((g) => g !== undefined)) ?? [];
  const strategies = f.strategies?.map(({ segments: g, ...s }) => (g ? { ...s, segments: g.flatMap((x) => (x ? [x.id] : [])) } : s));
  return { feature: { ...f, strategies } as FeatureDefinition, segments };
}

const describe = (f: FeatureDefinition): string => flagWords(definitionState(f));

export class HeldFlags {
  private readonly last = new Map<string, Seen>();
  private readonly since = new Map<string, Date>();
  /** Names Unleash defined at its last answer; undefined until it has answered (nothing is missing before that). */
  private defined: Set<string> | undefined;
  private readonly repository = new DefinitionsRepository();
  private readonly listeners = new Set<() => void>();
  /** Evaluates the held definitions as unleash-client evaluates fetched ones. */
  readonly evaluator: Unleash;

  constructor(
    /** memshift's flag names: only these are held. */
    private readonly names: readonly string[],
    appName: string,
  ) {
    this.evaluator = new Unleash({
      appName,
      // Required by the constructor, never contacted: the repository is local and metrics are off.
      url: 'http://offline.invalid/api/',
      repository: this.repository,
      disableMetrics: true,
      disableAutoStart: true,
      skipInstanceCountWarning: true,
    });
  }

  start(): Promise<void> {
    return this.evaluator.start();
  }

  /** What Unleash defines at its latest answer; true when the held flags changed. */
  observe(features: readonly DefinedFeature[]): boolean {
    this.defined = new Set(features.map((f) => f.name));
    for (const f of features) if (this.names.includes(f.name)) this.last.set(f.name, seen(f));
    return this.judge();
  }

  /** Definitions fetched before this process started (the state store's): those Unleash no longer defines are held. */
  seed(doc: ClientFeaturesResponse): void {
    const segments = new Map((doc.segments ?? []).map((s) => [s.id, s]));
    for (const f of doc.features)
      if (this.names.includes(f.name) && !this.last.has(f.name))
        this.last.set(f.name, { feature: f, segments: (f.strategies ?? []).flatMap((s) => (s.segments ?? []).flatMap((id) => segments.get(id) ?? [])) });
    if (this.judge()) for (const cb of this.listeners) cb();
  }

  /** Called when a seed changes the held flags (an answer's changes come with unleash-client's own event). */
  onChange(cb: () => void): void {
    this.listeners.add(cb);
  }

  /** A held flag's definition; undefined while Unleash defines it (or never did). */
  held(name: string): FeatureDefinition | undefined {
    return this.since.has(name) ? this.last.get(name)?.feature : undefined;
  }

  list(): HeldFlag[] {
    return [...this.since].map(([name, since]) => ({ name, since }));
  }

  /** The response to keep for a later start: with the held definitions, so that it holds them too. */
  amend(response: ClientFeaturesResponse): ClientFeaturesResponse {
    if (!this.since.size) return response;
    const held = this.heldSeen();
    const ids = new Set((response.segments ?? []).map((s) => s.id));
    const segments = held.flatMap((h) => h.segments).filter((s) => !ids.has(s.id) && ids.add(s.id));
    return { ...response, features: [...response.features, ...held.map((h) => h.feature)], segments: [...(response.segments ?? []), ...segments] };
  }

  close(): void {
    this.listeners.clear();
    this.evaluator.destroy();
  }

  private heldSeen(): Seen[] {
    return [...this.since.keys()].flatMap((name) => this.last.get(name) ?? []);
  }

  /** Holds what Unleash no longer defines, lets go of what it defines again; true when that changed anything. */
  private judge(): boolean {
    if (!this.defined) return false;
    let changed = false;
    for (const [name, { feature }] of this.last) {
      const missing = !this.defined.has(name);
      if (missing === this.since.has(name)) continue;
      changed = true;
      if (missing) {
        this.since.set(name, new Date());
        log.error(
          { flag: name, held: describe(feature) },
          `Unleash no longer defines ${name} (archived, deleted, or the client token reads another project or environment): ` +
            `held at its last definition (${describe(feature)}) rather than taken as off. Revive it in Unleash and set it as it ` +
            `was (a revived flag comes back off in every environment), or turn it off there to change the stage`,
        );
      } else {
        this.since.delete(name);
        log.info({ flag: name }, `Unleash defines ${name} again: no longer held`);
      }
    }
    if (changed) {
      const held = this.heldSeen();
      this.repository.replace(
        held.map((h) => h.feature),
        held.flatMap((h) => h.segments),
      );
    }
    return changed;
  }
}
