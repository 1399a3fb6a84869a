/**
 * Flag definition files made from the shipped flags/memshift.json plus edits: how the demo walks the
 * stages, and how tests and operators script a flag change without an Unleash server.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { DEFAULT_FLAGS_FILE } from './definitions.js';

interface FlagEdit {
  enabled?: boolean;
  /** Percentage for rollout flags (shadow-read, read-new). */
  rollout?: number;
}
export type Edits = Record<string, FlagEdit>;

export interface FlagsDoc {
  version: number;
  features: Array<{ name: string; enabled: boolean; strategies: Array<{ name: string; parameters: Record<string, string> }> }>;
}

export async function shippedDoc(): Promise<FlagsDoc> {
  return JSON.parse(await readFile(DEFAULT_FLAGS_FILE, 'utf8')) as FlagsDoc;
}

export function applyEdits(doc: FlagsDoc, edits: Edits): FlagsDoc {
  const copy = structuredClone(doc);
  for (const [name, edit] of Object.entries(edits)) {
    const f = copy.features.find((x) => x.name === name);
    if (!f) throw new Error(`no flag ${name} in the shipped file`);
    if (edit.enabled !== undefined) f.enabled = edit.enabled;
    if (edit.rollout !== undefined) {
      const s = f.strategies.find((x) => x.name === 'flexibleRollout');
      if (!s) throw new Error(`${name} is not a rollout flag`);
      s.parameters.rollout = String(edit.rollout);
    }
  }
  return copy;
}

/** Writes shipped flags plus `edits` to `path` by rename, so a watcher never reads half a file. */
export async function writeFlagsFile(path: string, edits: Edits): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(applyEdits(await shippedDoc(), edits), null, 2)}\n`);
  await rename(tmp, path);
}
