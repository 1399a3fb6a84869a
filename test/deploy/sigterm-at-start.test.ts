/**
 * SIGTERM while memshift is still starting (its embedded PostgreSQL being made): `serve` finishes the start, closes
 * without serving, stops that server and exits 0; a one-shot command (report, reconcile) stops it and exits 143.
 * Node's default exit left the server running, orphaned.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { startChild } from '../../src/tools/bench/processes.js';
import { waitUntil } from '../outbox/support.js';
import { liveProcesses } from '../support/processes.js';

/** Live processes whose command line includes `text`, and whose parent is `parent` when given. */
async function processes(text: string, parent?: number): Promise<number[]> {
  return [...(await liveProcesses())].filter(([, p]) => p.command.includes(text) && (parent === undefined || p.parent === parent)).map(([pid]) => pid);
}

/** Starts `args` on an embedded server in a fresh directory, SIGTERMs it during that server's initdb, and checks the exit. */
async function signalledDuringStart(args: string[], exitCode: number, started: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'memshift-start-sigterm-'));
  const dataDir = join(dir, 'pg');
  const child = startChild([...args, '--set', `store.dataDir=${dataDir}`]);
  const exited = new Promise<number | null>((r) => child.proc.once('exit', (code) => r(code)));
  try {
    // Signalled while its embedded server is being made (initdb, a second or more): well before its work.
    await waitUntil(
      async () => (await processes('initdb', child.proc.pid!)).length > 0,
      60_000,
      'its initdb ran',
      async () => child.output(),
    );
    child.proc.kill('SIGTERM');
    expect(await exited).toBe(exitCode);
    expect(child.output()).not.toContain(started);
    await waitUntil(async () => (await processes(`postgres -D ${dataDir} `)).length === 0, 30_000, 'its PostgreSQL stopped');
  } finally {
    child.proc.kill('SIGKILL');
    // Its initdb or server too, when it was left running (their directory is the data directory or a sibling of it).
    for (const pid of await processes(dataDir)) process.kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true, maxRetries: 5 });
  }
}

it('serve closes what it started, its embedded server too, and exits 0', async () => {
  // Ports the system picks at the bind: none picked beforehand that another test's process could take first.
  const fronts = ['session-memory', 'contextual-memory', 'jarvis-memory'].flatMap((s) => ['--set', `services.${s}.front=tcp://127.0.0.1:*`]);
  await signalledDuringStart(['serve', ...fronts, '--set', 'http.host=127.0.0.1', '--set', 'http.port=0'], 0, 'memshift serving');
}, 120_000);

it.each([
  ['report', ['report', '--out', tmpdir()], 'memshift report'],
  ['reconcile', ['reconcile', '--service', 'session-memory'], 'memshift reconcile'],
])(
  '%s stops the embedded server it started and exits 143',
  async (_, args, started) => {
    await signalledDuringStart(args, 143, started);
  },
  120_000,
);
