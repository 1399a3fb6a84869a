/**
 * Gauges of the flags as this instance applies them: each flag's state and rollout, each service's stage, Unleash's silence,
 * the flags Unleash no longer defines.
 */
import { defineGauge, type Reading } from '../telemetry/metrics.js';
import type { Flags, FlagsSnapshot } from './source.js';

const enabled = defineGauge('memshift.flag.enabled', { description: 'Flag state as this instance applies it (1 on, 0 off)', combine: 'first' });
const rollout = defineGauge('memshift.flag.rollout', { unit: '%', description: 'Rollout percentage of rollout flags', combine: 'first' });
const stage = defineGauge('memshift.stage', { description: "1 for each service's current stage", combine: 'first' });
const unanswered = defineGauge('memshift.flags.unanswered_seconds', {
  description:
    "Seconds since Unleash last answered this replica's flag fetches (since its start while it never has): flags changed in Unleash since do not reach it",
  combine: 'max',
});
const held = defineGauge('memshift.flags.held', {
  description: "memshift's flags Unleash no longer defines (archived, deleted), held at their last definition: changes to them cannot be made there",
  combine: 'max',
});

function readings(snapshot: () => FlagsSnapshot, read: (service: string, s: NonNullable<FlagsSnapshot['services'][string]>) => Reading[]): () => Reading[] {
  return () => Object.entries(snapshot().services).flatMap(([service, s]) => (s ? read(service, s) : []));
}

/** Feeds the flag gauges from one proxy's flags; returns the unregister. */
export function gaugeFlags(snapshot: () => FlagsSnapshot): () => void {
  const removers = [
    enabled.addSource(
      readings(snapshot, (service, s) => Object.entries(s.flags).map(([flag, f]) => ({ value: f.enabled ? 1 : 0, attributes: { flag, service } }))),
    ),
    rollout.addSource(
      readings(snapshot, (service, s) =>
        Object.entries(s.flags).flatMap(([flag, f]) => (f.rollout === undefined ? [] : [{ value: f.rollout, attributes: { flag, service } }])),
      ),
    ),
    stage.addSource(readings(snapshot, (service, s) => [{ value: 1, attributes: { service, stage: s.stage } }])),
  ];
  return () => removers.forEach((remove) => remove());
}

/** Feeds the Unleash gauges from one proxy's flags (0 with flags from the file, which is always read); returns the unregister. */
export function gaugeUnleash(flags: Pick<Flags, 'fetching' | 'held'>, since = Date.now()): () => void {
  const removers = [
    unanswered.addSource(() => {
      const f = flags.fetching();
      return [{ value: f ? (Date.now() - (f.answeredAt?.getTime() ?? since)) / 1000 : 0, attributes: {} }];
    }),
    held.addSource(() => [{ value: flags.held().length, attributes: {} }]),
  ];
  return () => removers.forEach((remove) => remove());
}
