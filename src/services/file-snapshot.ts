/**
 * A whole copy of a legacy store its agent rewrites in place while it is read: JarvisMemoryAgent and
 * ContextualMemoryAgent save with `open(path, "w")` and `json.dump` (the file truncated, then written in buffered
 * pieces), and SQLite commits change pages of the database file while its journal stands beside it. The file is
 * copied again until it held still across the copy (no journal beside it) and the copy reads.
 */
import { stat } from 'node:fs/promises';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface SnapshotOptions {
  /** Files whose presence beside it means a change is under way (SQLite's `-journal`). */
  busyBeside?: readonly string[];
  /** How long a file that keeps changing is copied again before giving up. */
  waitMs?: number;
}

/** A copy that fails to read while the file stands still this long is the file as it is (malformed), not a torn one. */
const STILL_MS = 1_000;
const DEFAULT_WAIT_MS = 30_000;

/**
 * `read(copy)` of a copy of `path` made while the file did not change (size and modification time alike before and
 * after, nothing of `busyBeside` present); read again from a new copy when it throws while the file changes meanwhile.
 */
export async function readSnapshot<T>(path: string, copy: string, read: (copy: string) => Promise<T>, opts: SnapshotOptions = {}): Promise<T> {
  const deadline = Date.now() + (opts.waitMs ?? DEFAULT_WAIT_MS);
  const busy = () => (opts.busyBeside ?? []).find((f) => existsSync(f));
  for (let attempt = 0; ; attempt++) {
    const before = await stat(path);
    const wasBusy = busy();
    await copyWhatIsThere(path, copy);
    const after = await stat(path);
    const beside = wasBusy ?? busy();
    if (!beside && sameVersion(before, after)) {
      try {
        return await read(copy);
      } catch (err) {
        // A writer paused mid-file leaves it still but cut short: it changes again soon. One that stays is malformed.
        if (!(await changesWithin(path, after, Math.min(STILL_MS, deadline - Date.now())))) throw err;
        continue;
      }
    }
    if (Date.now() >= deadline) {
      const why = beside ? `${beside} stood beside it` : 'it kept changing while it was copied';
      throw new Error(`${path}: no whole copy of it in ${opts.waitMs ?? DEFAULT_WAIT_MS} ms (${why})`);
    }
    await sleep(Math.min(5 * 2 ** attempt, 100));
  }
}

/**
 * The file's bytes up to wherever it ends while they are read. Not fs.copyFile: libuv copies the size it saw at the
 * start, and a file cut short meanwhile (an agent's save truncates it first) left it asking for the missing bytes
 * for good, a thread spinning and the run never ending; a cut here ends the copy, and the stat after it shows the change.
 */
const copyWhatIsThere = (path: string, copy: string) =>
  pipeline(createReadStream(path, { highWaterMark: COPY_CHUNK }), createWriteStream(copy, { highWaterMark: COPY_CHUNK }));
const COPY_CHUNK = 1 << 20;

const sameVersion = (a: { size: number; mtimeMs: number; ino: number }, b: { size: number; mtimeMs: number; ino: number }) =>
  a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino;

async function changesWithin(path: string, was: { size: number; mtimeMs: number; ino: number }, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  do {
    if (!sameVersion(was, await stat(path))) return true;
    await sleep(20);
  } while (Date.now() < until);
  return false;
}
