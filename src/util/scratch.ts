/** Scratch directories in TMPDIR named after their process, so that a later one removes those a killed process left. */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { processGone } from './process-gone.js';

/** This process's own scratch directories: a directory named with its pid but not here was left by an earlier one. */
const mine = new Set<string>();

/**
 * A fresh directory `<prefix>-<host>-<pid>-XXXXXX` in TMPDIR, after removing those of `prefix` left by processes of
 * this host that are gone. A legacy store's copy lives in one while a run reads it; a run killed with SIGKILL (nothing
 * runs its cleanup) left it behind, hundreds of MB at a million records, so runs killed over and over filled TMPDIR.
 * A pid equal to this process's own is an earlier incarnation's (a container's entrypoint restarted as pid 1), unless
 * this process made the directory. Processes that share a TMPDIR see each other's pids (one machine or container).
 * `release` frees what a left directory still holds (a server the killed process started) before it is removed.
 */
export async function scratchDir(prefix: string, release?: (dir: string) => Promise<void>): Promise<string> {
  const ours = `${prefix}-${hostname().replace(/[^A-Za-z0-9.]/g, '_')}-`;
  const names = await readdir(tmpdir()).catch(() => [] as string[]);
  for (const name of names) {
    const pid = name.startsWith(ours) ? Number(/^(\d+)-/.exec(name.slice(ours.length))?.[1]) : NaN;
    if (!Number.isInteger(pid) || mine.has(name)) continue;
    if (pid !== process.pid && !processGone(pid)) continue;
    await release?.(join(tmpdir(), name));
    await rm(join(tmpdir(), name), { recursive: true, force: true });
  }
  const dir = await mkdtemp(join(tmpdir(), `${ours}${process.pid}-`));
  mine.add(basename(dir));
  return dir;
}

/** Removes this process's own scratch directories now: a process stopped by a signal, before it exits. */
export async function removeOwnScratch(): Promise<void> {
  await Promise.all([...mine].map((name) => rm(join(tmpdir(), name), { recursive: true, force: true })));
}
