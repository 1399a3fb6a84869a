/** The build the suite's child processes (`memshift serve`, `backfill`, `reconcile`, ...) start from, made fresh from the sources. */
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join, resolve } from 'node:path';

const STAMP = 'dist/.tsbuildinfo';
/** What the build reads besides src/. */
const INPUTS = ['package.json', 'package-lock.json', 'tsconfig.json', 'config/tsconfig.build.json'];

function newestUnder(dir: string): number {
  let newest = statSync(dir).mtimeMs;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestUnder(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function stale(): boolean {
  try {
    const built = statSync(STAMP).mtimeMs;
    return Math.max(newestUnder('src'), ...INPUTS.map((f) => statSync(f).mtimeMs)) >= built;
  } catch {
    return true;
  }
}

/**
 * Points the children at dist/main.js (MEMSHIFT_BIN, which the test processes inherit), building it first where a
 * source is newer than the last build (npm's install builds it, so in a clean clone there is nothing to do): loaded
 * through tsx, each start of memshift cost about 1.7 s of CPU more, some 55 starts a suite. The installed package
 * runs the same build. Where the build fails (a type error while working), they run from the sources instead.
 */
export function useBuildForChildren(): void {
  if (stale()) {
    const r = spawnSync('npm', ['run', '--silent', 'build'], { encoding: 'utf8' });
    if (r.status !== 0) {
      // tsc emits despite type errors and stamps the build; the next suite builds again.
      rmSync(STAMP, { force: true });
      console.warn(`npm run build failed (children run from the sources through tsx):\n${r.stdout}${r.stderr}`);
      return;
    }
    // tsc leaves its stamp as it was where nothing changed but a file's time.
    const now = new Date();
    utimesSync(STAMP, now, now);
  }
  process.env.MEMSHIFT_BIN = resolve('dist/main.js');
}
