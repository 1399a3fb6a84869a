/**
 * Migration stages (DESIGN.md stages table): which stage a service is in given its flags, and what
 * each stage means for writes, reads and comparison. Pure, so the report and CLI share it.
 */
import type { ServiceName } from '../services/registry.js';
import { flagName, KILL_SWITCH, type FlagKind } from './names.js';

export const STAGES = ['off', 'dual-write', 'shadow', 'cutover', 'new-primary', 'complete', 'killed'] as const;
export type Stage = (typeof STAGES)[number];

export interface FlagState {
  enabled: boolean;
  /** flexibleRollout percentage (0-100), for flags defined with that strategy. */
  rollout?: number;
  /** Forced off by a local override (the guard), whatever Unleash says. */
  forcedOff?: true;
  /** Unleash no longer defines it: held at its last definition (src/flags/held.ts). */
  held?: true;
}

/** A flag's state in words (off, on, on 25%, forced off), "held" after it while Unleash no longer defines it. */
export function flagWords(f: FlagState): string {
  const words = f.forcedOff ? 'forced off' : !f.enabled ? 'off' : f.rollout === undefined ? 'on' : `on ${f.rollout}%`;
  return f.held ? `${words}, held (not in Unleash)` : words;
}

/** Flag states keyed by full flag name. */
export type FlagStates = Record<string, FlagState>;

/** A flag counts as on when enabled and, for a rollout, above 0%. */
export const isOn = (s: FlagState | undefined): boolean => s !== undefined && s.enabled && (s.rollout === undefined || s.rollout > 0);

/** The latest stage whose flag is on wins: later flags include what earlier stages do. */
const STAGE_BY_FLAG: ReadonlyArray<[FlagKind, Stage]> = [
  ['legacy-off', 'complete'],
  ['new-primary', 'new-primary'],
  ['read-new', 'cutover'],
  ['shadow-read', 'shadow'],
  ['dual-write', 'dual-write'],
];

export function deriveStage(service: ServiceName, flags: FlagStates, killSwitch: boolean = isOn(flags[KILL_SWITCH])): Stage {
  if (killSwitch) return 'killed';
  const hit = STAGE_BY_FLAG.find(([kind]) => isOn(flags[flagName(service, kind)]));
  return hit ? hit[1] : 'off';
}

export interface StagePlan {
  /** The secondary side is written too. */
  dualWrite: boolean;
  /** The orchestrator is written first and its reply is the one returned. */
  newPrimary: boolean;
  /** Legacy is no longer written. */
  legacyOff: boolean;
  /** Reads served from the orchestrator: never, for the read-new rollout share, or always. */
  readNew: 'never' | 'rollout' | 'always';
  /** Reads may be shadowed to the other side (at the shadow-read rollout share). */
  shadow: boolean;
}

/** Whether `stage` serves some reads from `side` (legacy, or the orchestrator: new). */
export const readsFrom = (stage: Stage, side: 'legacy' | 'new'): boolean =>
  side === 'legacy' ? STAGE_PLANS[stage].readNew !== 'always' : STAGE_PLANS[stage].readNew !== 'never';

const legacyOnly: StagePlan = { dualWrite: false, newPrimary: false, legacyOff: false, readNew: 'never', shadow: false };

/** DESIGN.md's stages table as data. */
export const STAGE_PLANS: Record<Stage, StagePlan> = {
  off: legacyOnly,
  'dual-write': { ...legacyOnly, dualWrite: true },
  shadow: { ...legacyOnly, dualWrite: true, shadow: true },
  cutover: { ...legacyOnly, dualWrite: true, shadow: true, readNew: 'rollout' },
  'new-primary': { dualWrite: true, newPrimary: true, legacyOff: false, readNew: 'always', shadow: true },
  complete: { dualWrite: false, newPrimary: true, legacyOff: true, readNew: 'always', shadow: false },
  killed: legacyOnly,
};
