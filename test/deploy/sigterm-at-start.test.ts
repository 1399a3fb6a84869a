/**
 * SIGTERM while `memshift serve` is still starting (its embedded PostgreSQL up, the proxy not yet serving): it
 * finishes the start, closes, stops that server and exits 0. Node's default exit left the server running, orphaned.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { freePort } from '../../src/util/ports.js';
import { startChild } from '../../src/tools/bench/processes.js';
import { waitUntil } from '../outbox/support.js';

/** The pid of the postmaster `parent` runs on `dataDir`, if it runs one yet (from /proc). */
async function serverOf(parent: number, dataDir: string): Promise<number | undefined> {
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const status = await readFile(`/proc/${name}/status`, 'utf8').catch(() => '');
    if (Number(/^PPid:\s*(\d+)/m.exec(status)?.[1]) !== parent || /^State:\s*Z/m.test(status)) continue;
    const command = (await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ');
    if (command.includes(`postgres -D ${dataDir} `)) return Number(name);
  }
  return undefined;
}

const alive = (pid: number) =>
  readFile(`/proc/${pid}/status`, 'utf8').then(
    (s) => !/^State:\s*Z/m.test(s),
    () => false,
  );

it('closes what it started, its embedded server too, when SIGTERM comes during the start', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'memshift-start-sigterm-'));
  const dataDir = join(dir, 'pg');
  const fronts = await Promise.all(['session-memory', 'contextual-memory', 'jarvis-memory'].map(async (s) => [s, await freePort()] as const));
  const child = startChild([
    'serve',
    ...fronts.flatMap(([s, port]) => ['--set', `services.${s}.front=tcp://127.0.0.1:${port}`]),
    ...['--set', 'http.host=127.0.0.1', '--set', `http.port=${await freePort()}`, '--set', `store.dataDir=${dataDir}`],
  ]);
  const exited = new Promise<number | null>((r) => child.proc.once('exit', (code) => r(code)));
  let server: number | undefined;
  try {
    await waitUntil(
      async () => (server = await serverOf(child.proc.pid!, dataDir)) !== undefined,
      60_000,
      'its PostgreSQL started',
      async () => child.output(),
    );
    // Still starting: the signal comes before the proxy serves.
    expect(child.output()).not.toContain('memshift serving');
    child.proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    await waitUntil(async () => !(await alive(server!)), 30_000, 'its PostgreSQL stopped');
  } finally {
    child.proc.kill('SIGKILL');
    if (server && (await alive(server))) process.kill(server, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}, 120_000);
