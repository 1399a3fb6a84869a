/** Temp copies of flags/memshift.json with edits applied, and opening Flags on them. */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyEdits, shippedDoc, type Edits } from '../../src/flags/edit.js';
import { openFlags, type Flags, type OpenFlagsOptions } from '../../src/flags/source.js';
import { runCommand } from '../support/cli.js';

export { applyEdits, shippedDoc, type Edits } from '../../src/flags/edit.js';

/** A temp dir holding a flags file; cleaned up by dispose(). */
export class TempFlags {
  private opened: Flags[] = [];
  private constructor(
    readonly dir: string,
    readonly file: string,
  ) {}

  static async create(edits: Edits = {}): Promise<TempFlags> {
    const dir = await mkdtemp(join(tmpdir(), 'memshift-flags-'));
    const t = new TempFlags(dir, join(dir, 'memshift.json'));
    await t.write(edits);
    return t;
  }

  /** Rewrites the file in place from the shipped file plus edits. */
  async write(edits: Edits): Promise<void> {
    await writeFile(this.file, JSON.stringify(applyEdits(await shippedDoc(), edits), null, 2));
  }

  /** Saves the way many editors do: write a sibling, then rename over the file. */
  async writeByRename(edits: Edits): Promise<void> {
    const tmp = join(this.dir, '.memshift.json.swp');
    await writeFile(tmp, JSON.stringify(applyEdits(await shippedDoc(), edits), null, 2));
    await rename(tmp, this.file);
  }

  async writeRaw(text: string): Promise<void> {
    await writeFile(this.file, text);
  }

  async open(opts: OpenFlagsOptions = {}): Promise<Flags> {
    const flags = await openFlags({ file: this.file, env: {}, ...opts });
    this.opened.push(flags);
    return flags;
  }

  async dispose(): Promise<void> {
    await Promise.all(this.opened.map((f) => f.close()));
    await rm(this.dir, { recursive: true, force: true });
  }
}

export const on = (...names: string[]): Edits => Object.fromEntries(names.map((n) => [n, { enabled: true }]));
export const rollout = (name: string, pct: number): Edits => ({ [name]: { enabled: true, rollout: pct } });

/** Polls until cond() holds; returns the elapsed ms, or throws after timeoutMs. */
export async function waitFor(cond: () => boolean, timeoutMs = 3000): Promise<number> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
}

export const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

/** `memshift flags ...` run in this process: its exit code and what it printed. */
export async function flagsCli(args: string[]): Promise<{ code: number; out: string }> {
  return runCommand((await import('../../src/commands/flags.js')).command, args);
}
