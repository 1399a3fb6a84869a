/**
 * Debian's chromium for the browser tests (installed before vitest starts, by test/support/system-packages.ts),
 * launched headless through playwright-core with a fresh profile so no state leaks between runs.
 */
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

const CHROMIUM_PATH = '/usr/bin/chromium';

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
      await context.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );
