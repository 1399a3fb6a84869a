/**
 * Debian's chromium for the browser tests (installed before vitest starts, by test/support/system-packages.ts),
 * launched headless through playwright-core with a fresh profile so no state leaks between runs.
 */
import { spawnSync } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

const CHROMIUM_PATH = '/usr/bin/chromium';
/** A browser not closed by then (a loaded machine, a wedged renderer) is killed rather than left to hold a file's last hook. */
const CLOSE_MS = 15_000;

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** A headless chromium with its own throw-away user-data dir. */
export async function launchChromium(): Promise<Browser> {
  if (!(await exists(CHROMIUM_PATH)))
    throw new Error(`${CHROMIUM_PATH} is missing: \`npm test\` installs it before vitest starts (test/support/system-packages.ts)`);
  const profile = await mkdtemp(join(tmpdir(), 'memshift-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    async close() {
      const closed = context.close().catch(() => undefined);
      let timer: NodeJS.Timeout | undefined;
      const late = await Promise.race([closed.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), CLOSE_MS)))]);
      clearTimeout(timer);
      if (late) {
        console.warn(`chromium did not close within ${CLOSE_MS} ms: killed`);
        // Its processes are the ones started on this profile.
        spawnSync('pkill', ['-KILL', '-f', profile]);
        await closed;
      }
      await rm(profile, { recursive: true, force: true });
    },
  };
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );
