/**
 * SIGTERM while `memshift serve` is still starting (its embedded PostgreSQL being made): it finishes the start,
 * closes without serving, stops that server and exits 0. Node's default exit left the server running, orphaned.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { freePort } from '../../src/util/ports.js';
import { startChild } from '../../src/tools/bench/processes.js';
import { waitUntil } from '../outbox/support.js';
import { liveProcesses } from '../support/processes.js';

/** Live processes whose command line includes `text`, and whose parent is `parent` when given. */
async function processes(text: string, parent?: number): Promise<number[]> {
  return [...(await liveProcesses())].filter(([, p]) => p.command.includes(text) && (parent === undefined || p.parent === parent)).map(([pid]) => pid);
}

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
  try {
    // Signalled while its embedded server is being made (initdb, a second or more): well before it serves.
    await waitUntil(
      async () => (await processes('initdb', child.proc.pid!)).length > 0,
      60_000,
      'its initdb ran',
      async () => child.output(),
    );
    child.proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(child.output()).not.toContain('memshift serving');
    await waitUntil(async () => (await processes(`postgres -D ${dataDir} `)).length === 0, 30_000, 'its PostgreSQL stopped');
  } finally {
    child.proc.kill('SIGKILL');
    for (const pid of await processes(`-D ${dataDir} `)) process.kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}, 120_000);
