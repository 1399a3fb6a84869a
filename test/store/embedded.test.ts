/** The embedded PostgreSQL: started on demand, reused, and left consistent by a killed holder. */
import { execFileSync, spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/store/embedded.js';
import { tempDataDir, type TempDir } from './helpers.js';
import { waitUntil } from '../outbox/support.js';
import { descendants, groupMembers } from '../support/processes.js';

const HOLDER = fileURLToPath(new URL('./fixtures/hold-embedded.ts', import.meta.url));

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

const alive = (pid: number) =>
  readFile(`/proc/${pid}/status`, 'utf8').then(
    (s) => !/^State:\s*[ZX]/m.test(s),
    () => false,
  );

describe('embedded postgres', () => {
  let dir: TempDir;
  let orphanPid: number | undefined;
  const started: EmbeddedPostgresHandle[] = [];
  const start = async (port?: number) => {
    const h = await startEmbeddedPostgres({ dataDir: dir.dataDir, port });
    started.push(h);
    return h;
  };

  afterAll(async () => {
    // Left stopped when the test failed: continued first.
    if (orphanPid && (await alive(orphanPid))) for (const sig of ['SIGCONT', 'SIGINT'] as const) process.kill(orphanPid, sig);
    for (const h of started) await h.stop();
    await dir?.remove();
  });

  it('initialises a new cluster, creates the memshift database, and stops', async () => {
    dir = await tempDataDir();
    const h = await start();
    expect(h.port).toBeGreaterThan(0);
    expect(h.timing.initMs).toBeGreaterThan(0);
    expect(h.url).toMatch(/\/memshift$/);
    const rows = await query(h.url, "SELECT current_database() AS db, current_setting('listen_addresses') AS listen");
    expect(rows).toEqual([{ db: 'memshift', listen: '127.0.0.1' }]);
    await query(h.url, 'CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)');
    await h.stop();
    await expect(query(h.url, 'SELECT 1')).rejects.toThrow();
  });

  it('reuses the initialised cluster and its data on the next start', async () => {
    const h = await start();
    expect(h.timing.initMs).toBe(0);
    expect(await query(h.url, 'SELECT v FROM kept')).toEqual([{ v: 42 }]);
    await h.stop();
  });

  it('shares a server another live process started on the same directory', async () => {
    const owner = await start();
    const second = await start();
    expect([owner.shared, second.shared]).toEqual([false, true]);
    expect(second.port).toBe(owner.port);
    await second.stop();
    expect(await query(owner.url, 'SELECT v FROM kept')).toEqual([{ v: 42 }]);
    await owner.stop();
    await expect(query(owner.url, 'SELECT 1')).rejects.toThrow();
  });

  it('starts over a postmaster.pid naming a live process that is not its postmaster', async () => {
    // A pid reused after a restart by some other process of the postgres user: postgres itself refuses that.
    const [uid, gid] = ['-u', '-g'].map((f) => Number(execFileSync('id', [f, 'postgres'], { encoding: 'utf8' })));
    const other = spawn('sleep', ['30'], { uid, gid });
    try {
      const lockFile = `${dir.dataDir}/postmaster.pid`;
      await writeFile(lockFile, `${other.pid}\n${dir.dataDir}\n1700000000\n5999\n\n127.0.0.1\n  1234  5678\nready\n`);
      const h = await start();
      expect(await query(h.url, 'SELECT v FROM kept')).toEqual([{ v: 42 }]);
      expect((await readFile(lockFile, 'utf8')).split('\n')[0]).not.toBe(String(other.pid));
      expect(await alive(other.pid!)).toBe(true);
      await h.stop();
    } finally {
      other.kill();
    }
  });

  it('shuts down the postmaster orphaned by a killed run, left stopped (SIGSTOP) with its processes, and starts', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', HOLDER, dir.dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /PORT (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`holder exited early (${code})`)));
    });
    orphanPid = Number((await readFile(`${dir.dataDir}/postmaster.pid`, 'utf8')).split('\n')[0]);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(await alive(orphanPid)).toBe(true);
    // As a chaos probe ended while it paused the store leaves it.
    for (const pid of [orphanPid, ...(await descendants(orphanPid)).keys()]) process.kill(pid, 'SIGSTOP');

    const h = await start(port);
    expect(h.port).toBe(port);
    expect(await alive(orphanPid)).toBe(false);
    expect(await query(h.url, 'SELECT v FROM kept')).toEqual([{ v: 42 }]);
  });
});

it('starts on a directory whose initdb was killed midway together with the process that ran it', async () => {
  const fresh = await tempDataDir();
  // A process group of its own, killed whole at once: initdb starts a new postgres child now and then, which a kill of
  // the processes listed a moment before would miss (it went on writing the directory the next start removes).
  const holder = spawn(process.execPath, ['--import', 'tsx', HOLDER, fresh.dataDir], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  holder.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  let exited: number | null | undefined;
  holder.once('exit', (code) => (exited = code));
  let h: EmbeddedPostgresHandle | undefined;
  try {
    // initdb writing its sibling directory (named .initdb-PID until it is renamed into place), seen by the files it
    // leaves rather than by its process, which a scan of every process under load can miss on a fast host.
    const sibling = async () => (await readdir(dirname(fresh.dataDir))).find((n) => n.startsWith(`${basename(fresh.dataDir)}.initdb-`));
    for (const end = Date.now() + 60_000; ; await new Promise((r) => setTimeout(r, 10))) {
      if (exited !== undefined) throw new Error(`the holder exited (${exited}) before initdb wrote anything: ${stderr}`);
      const name = await sibling();
      if (name && (await readdir(join(dirname(fresh.dataDir), name)).catch(() => [] as string[])).includes('global')) break;
      if (Date.now() > end) throw new Error(`initdb wrote nothing within 60 s: ${stderr}`);
    }
    // Midway through it, the holder and everything below it at once: an OOM kill, a lost node.
    process.kill(-holder.pid!, 'SIGKILL');
    await waitUntil(async () => (await groupMembers(holder.pid!)).length === 0, 30_000, 'initdb killed');
    // Killed before initdb was done: nothing was renamed into place.
    expect(await sibling()).toBeDefined();
    expect((await readdir(dirname(fresh.dataDir))).includes(basename(fresh.dataDir))).toBe(false);

    h = await startEmbeddedPostgres({ dataDir: fresh.dataDir });
    expect(await query(h.url, 'SELECT current_database() AS db')).toEqual([{ db: 'memshift' }]);
    expect((await readdir(dirname(fresh.dataDir))).filter((name) => name.includes('initdb'))).toEqual([]);
  } finally {
    holder.kill('SIGKILL');
    await h?.stop();
    await fresh.remove();
  }
}, 120_000);
