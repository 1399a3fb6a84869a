/**
 * Debian's chromium for the browser tests: installed with apt when missing (the suite runs as root on
 * Debian), launched headless through playwright-core with a fresh profile so no state leaks between runs.
 */
import { spawn } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

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

// Concurrent test files in one process share one install.
let installing: Promise<void> | undefined;

/** Resolves once /usr/bin/chromium exists, installing Debian's package if needed. */
export function ensureChromium(): Promise<void> {
  installing ??= install().finally(() => {
    installing = undefined;
  });
  return installing;
}

async function install(): Promise<void> {
  if (await exists(CHROMIUM_PATH)) return;
  // The lock timeout lets a concurrent apt (another test process, unattended upgrades) finish first.
  const apt = 'apt-get -o DPkg::Lock::Timeout=300';
  await run('sh', ['-c', `${apt} update && ${apt} install -y --no-install-recommends chromium`], {
    DEBIAN_FRONTEND: 'noninteractive',
  });
  if (!(await exists(CHROMIUM_PATH))) throw new Error(`apt-get finished but ${CHROMIUM_PATH} is missing`);
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** A headless chromium with its own throw-away user-data dir. */
export async function launchChromium(): Promise<Browser> {
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

function run(cmd: string, args: string[], env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr}`)),
    );
  });
}
