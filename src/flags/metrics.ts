/** Gauges of the flags as this instance applies them: each flag's state and rollout, each service's stage. */
import { defineGauge, type Reading } from '../telemetry/metrics.js';
import type { FlagsSnapshot } from './source.js';

const enabled = defineGauge('memshift.flag.enabled', { description: 'Flag state as this instance applies it (1 on, 0 off)', combine: 'first' });
const rollout = defineGauge('memshift.flag.rollout', { unit: '%', description: 'Rollout percentage of rollout flags', combine: 'first' });
const stage = defineGauge('memshift.stage', { description: "1 for each service's current stage", combine: 'first' });

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
