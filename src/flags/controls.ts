/**
 * The rollout's controls as flag edits (set, ramp, advance to the next stage, roll back, the kill switch),
 * planned from the flags as they stand and applied to where they live: the flags file or Unleash. The CLI
 * (`memshift flags ...`) and the dashboard share them.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { UnleashAdmin } from '../admin/unleash-admin.js';
import type { ServiceName } from '../services/registry.js';
import { applyEdits, type FlagsDoc } from './edit.js';
import { flagName, KILL_SWITCH, serviceFlagNames, type FlagKind } from './names.js';
import { deriveStage, isOn, STAGE_PLANS, type FlagState, type FlagStates, type Stage } from './stage.js';

/** What one control does to one flag. */
export interface FlagEdit {
  flag: string;
  enabled?: boolean;
  /** Percentage, for rollout flags (shadow-read, read-new). */
  rollout?: number;
}

export type Control =
  | { op: 'set'; service: ServiceName; kind: FlagKind; enabled?: boolean; rollout?: number }
  | { op: 'ramp'; service: ServiceName; kind: 'read-new' | 'shadow-read'; percent: number }
  | { op: 'advance'; service: ServiceName; percent?: number }
  | { op: 'rollback'; service: ServiceName }
  | { op: 'kill-switch'; on: boolean };

/** Flags a rollback turns off: everything that puts the new side on the read path. */
export const ROLLBACK_KINDS: readonly FlagKind[] = ['read-new', 'shadow-read', 'new-primary'];

/** The first share of reads a stage's rollout flag gets when `advance` turns it on without a percentage. */
const FIRST_PERCENT: Partial<Record<FlagKind, number>> = { 'shadow-read': 100, 'read-new': 10 };

/** The flag whose turning on takes a service from each stage to the next. */
const NEXT_FLAG: Partial<Record<Stage, FlagKind>> = {
  off: 'dual-write',
  'dual-write': 'shadow-read',
  shadow: 'read-new',
  cutover: 'new-primary',
  'new-primary': 'legacy-off',
};

class ControlRefused extends Error {}

/** The edits of a rollback: reads back to legacy, dual writes kept on when the stage had them. */
export function rollbackEdits(service: ServiceName, flags: FlagStates, stage: Stage = deriveStage(service, flags)): FlagEdit[] {
  const edits: FlagEdit[] = ROLLBACK_KINDS.filter((k) => flags[flagName(service, k)]?.enabled).map((k) => ({ flag: flagName(service, k), enabled: false }));
  const dualWrite = flagName(service, 'dual-write');
  if (STAGE_PLANS[stage].dualWrite && !isOn(flags[dualWrite])) edits.push({ flag: dualWrite, enabled: true });
  return edits;
}

/** The edits a control makes given the flags now; throws ControlRefused for one that makes no sense here. */
export function planControl(c: Control, flags: FlagStates): FlagEdit[] {
  switch (c.op) {
    case 'kill-switch':
      return [{ flag: KILL_SWITCH, enabled: c.on }];
    case 'rollback':
      return rollbackEdits(c.service, flags);
    case 'set':
      return [{ flag: flagName(c.service, c.kind), ...(c.enabled !== undefined ? { enabled: c.enabled } : {}), ...rolloutOf(c.rollout) }];
    case 'ramp':
      return [{ flag: flagName(c.service, c.kind), enabled: true, ...rolloutOf(c.percent) }];
    case 'advance': {
      const stage = deriveStage(c.service, flags);
      if (stage === 'killed') throw new ControlRefused('the kill switch is on: turn it off before advancing');
      const kind = NEXT_FLAG[stage];
      if (!kind) throw new ControlRefused(`${c.service} is ${stage}: there is no later stage`);
      const percent = c.percent ?? FIRST_PERCENT[kind];
      return [{ flag: flagName(c.service, kind), enabled: true, ...(percent !== undefined && FIRST_PERCENT[kind] !== undefined ? rolloutOf(percent) : {}) }];
    }
  }
}

function rolloutOf(percent: number | undefined): { rollout?: number } {
  if (percent === undefined) return {};
  if (!Number.isInteger(percent) || percent < 0 || percent > 100) throw new ControlRefused(`a rollout is a whole percentage from 0 to 100, not ${percent}`);
  return { rollout: percent };
}

/** The flags' states after `edits` (for showing before and after). */
export function afterEdits(flags: FlagStates, edits: readonly FlagEdit[]): FlagStates {
  const out = structuredClone(flags);
  for (const e of edits) {
    const was = out[e.flag] ?? { enabled: false };
    out[e.flag] = { ...was, ...(e.enabled !== undefined ? { enabled: e.enabled } : {}), ...(e.rollout !== undefined ? { rollout: e.rollout } : {}) };
  }
  return out;
}

/** Where the flags live: read their states, apply edits. */
export interface FlagTarget {
  /** For messages: the file or the Unleash server. */
  readonly name: string;
  read(): Promise<FlagStates>;
  apply(edits: readonly FlagEdit[]): Promise<void>;
}

/** The flags file (Unleash's client-features format), edited in place by rename so a watcher never reads half a file. */
export function fileTarget(path: string): FlagTarget {
  const load = async () => JSON.parse(await readFile(path, 'utf8')) as FlagsDoc;
  return {
    name: `flags file ${path}`,
    async read() {
      return Object.fromEntries((await load()).features.map((f) => [f.name, stateOf(f.enabled, f.strategies)]));
    },
    async apply(edits) {
      const doc = applyEdits(await load(), Object.fromEntries(edits.map(({ flag, ...e }) => [flag, e])));
      const tmp = `${path}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify(doc, null, 2)}\n`);
      await rename(tmp, path);
    },
  };
}

/** Unleash through its Admin API (an admin token), in one project and environment. */
export function unleashTarget(admin: UnleashAdmin, url: string, services: readonly ServiceName[]): FlagTarget {
  return {
    name: `Unleash ${url} (${admin.project}/${admin.environment})`,
    async read() {
      const names = [...services.flatMap(serviceFlagNames), KILL_SWITCH];
      const states = await Promise.all(
        names.map(async (name) => {
          const env = (await admin.feature(name))?.environments.find((e) => e.name === admin.environment);
          return [name, env ? stateOf(env.enabled, env.strategies ?? []) : undefined] as const;
        }),
      );
      return Object.fromEntries(states.filter((s): s is readonly [string, FlagState] => s[1] !== undefined));
    },
    async apply(edits) {
      for (const e of edits) {
        // The percentage first: a flag turned on is never briefly on at its old share.
        if (e.rollout !== undefined) await admin.setRollout(e.flag, e.rollout);
        if (e.enabled !== undefined) await admin.setEnabled(e.flag, e.enabled);
      }
    },
  };
}

function stateOf(enabled: boolean, strategies: readonly { name: string; parameters?: Record<string, unknown> }[]): FlagState {
  const rollout = strategies.find((s) => s.name === 'flexibleRollout')?.parameters?.rollout;
  return { enabled, ...(rollout !== undefined ? { rollout: Number(rollout) } : {}) };
}
