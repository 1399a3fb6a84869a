/** An unleash-client repository over definitions held in memory: the offline file's, or the flags Unleash stopped defining. */
import { EventEmitter } from 'node:events';
import { UnleashEvents, type UnleashConfig } from 'unleash-client';
import type { FeatureDefinition, SegmentDefinition } from './definitions.js';

type RepositoryInterface = NonNullable<UnleashConfig['repository']>;
type EnhancedFeature = ReturnType<RepositoryInterface['getTogglesWithSegmentData']>[number];

export class DefinitionsRepository extends EventEmitter implements RepositoryInterface {
  private features = new Map<string, FeatureDefinition>();
  private segments = new Map<number, SegmentDefinition>();

  async start(): Promise<void> {
    // Unleash answers from a repository only once it says ready; no definitions at all means every flag off.
    this.emit(UnleashEvents.Ready);
  }

  stop(): void {}

  /** Serves these definitions from now on. */
  replace(features: readonly FeatureDefinition[], segments: readonly SegmentDefinition[] = []): void {
    this.features = new Map(features.map((f) => [f.name, f]));
    this.segments = new Map(segments.map((s) => [s.id, s]));
    this.emit(UnleashEvents.Changed, this.getToggles());
  }

  get size(): number {
    return this.features.size;
  }

  getToggle(name: string): FeatureDefinition | undefined {
    return this.features.get(name);
  }

  getToggles(): FeatureDefinition[] {
    return [...this.features.values()];
  }

  getSegment(id: number): SegmentDefinition | undefined {
    return this.segments.get(id);
  }

  getTogglesWithSegmentData(): EnhancedFeature[] {
    return this.getToggles().map((f) => ({
      ...f,
      strategies: f.strategies?.map(({ segments, ...s }) => ({ ...s, segments: segments?.map((id) => this.getSegment(id)) })),
    }));
  }
}
