/** The migration walk the demo plays, as flag edits per stage (DESIGN.md's stages table). */
import type { Edits } from '../../flags/edit.js';
import { flagName, type FlagKind } from '../../flags/names.js';
import { serviceNames } from '../../services/registry.js';

export interface DemoStage {
  name: string;
  what: string;
  edits: Edits;
}

const forAll = (kind: FlagKind, rollout?: number): Edits =>
  Object.fromEntries(serviceNames().map((s) => [flagName(s, kind), rollout === undefined ? { enabled: true } : { enabled: true, rollout }]));

export const DEMO_STAGES: DemoStage[] = [
  { name: 'off', what: 'legacy only; memshift passes everything through', edits: {} },
  { name: 'dual-write', what: 'writes go to legacy, then to the orchestrator', edits: forAll('dual-write') },
  {
    name: 'shadow 100%',
    what: 'every read is also sent to the orchestrator and compared',
    edits: { ...forAll('dual-write'), ...forAll('shadow-read', 100) },
  },
  {
    name: 'read-new 50%',
    what: 'half of the sessions read from the orchestrator; all reads still compared',
    edits: { ...forAll('dual-write'), ...forAll('shadow-read', 100), ...forAll('read-new', 50) },
  },
  {
    name: 'new-primary',
    what: 'the orchestrator is written first and serves reads; legacy is written second',
    edits: { ...forAll('dual-write'), ...forAll('shadow-read', 100), ...forAll('new-primary') },
  },
];
