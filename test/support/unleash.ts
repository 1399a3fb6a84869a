/**
 * A real Unleash server (unleash-server 7, the npm package) for one test file, in a child process on a
 * fresh database of the suite's PostgreSQL, with an admin and a client token made at start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { freshDatabaseUrl } from './database.js';

export interface UnleashServer {
  /** Server root, e.g. http://127.0.0.1:4242 */
  url: string;
  /** The client API URL unleash-client wants (…/api/). */
  apiUrl: string;
  adminToken: string;
  clientToken: string;
  /** A client token of the default project's production environment. */
  productionClientToken: string;
  /** How long the server took from spawn to listening, in ms. */
  startMs: number;
  stop(): Promise<void>;
}

const ADMIN_TOKEN = '*:*.memshift-test-admin';
const CLIENT_TOKEN = 'default:development.memshift-test-client';
const PRODUCTION_CLIENT_TOKEN = 'default:production.memshift-test-client';
const READY = 'MEMSHIFT_UNLEASH_READY ';

// Runs in the child: start() with the db given as JSON, then tell the parent the port.
const CHILD = `
const { start } = await import('unleash-server');
const db = JSON.parse(process.env.MEMSHIFT_UNLEASH_DB);
const unleash = await start({
  db: { ...db, ssl: false },
  server: { host: '127.0.0.1', port: 0, gracefulShutdownEnable: false },
  logLevel: 'error',
  versionCheck: { enable: false },
  telemetry: false,
});
console.log(${JSON.stringify(READY)} + JSON.stringify({ port: unleash.server.address().port }));
`;

export async function startUnleash(timeoutMs = 60_000): Promise<UnleashServer> {
  const db = new URL(await freshDatabaseUrl());
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
    cwd: process.cwd(),
    env: {
      ...process.env,
      INIT_ADMIN_API_TOKENS: ADMIN_TOKEN,
      INIT_CLIENT_API_TOKENS: `${CLIENT_TOKEN},${PRODUCTION_CLIENT_TOKEN}`,
      MEMSHIFT_UNLEASH_DB: JSON.stringify({
        host: db.hostname,
        port: Number(db.port),
        user: decodeURIComponent(db.username),
        password: decodeURIComponent(db.password),
        database: db.pathname.slice(1),
      }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Unleash did not start within ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith(READY)) return;
      clearTimeout(timer);
      resolve((JSON.parse(line.slice(READY.length)) as { port: number }).port);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Unleash exited (${code}) before listening: ${stderr}`));
    });
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    apiUrl: `${url}/api/`,
    adminToken: ADMIN_TOKEN,
    clientToken: CLIENT_TOKEN,
    productionClientToken: PRODUCTION_CLIENT_TOKEN,
    startMs: Math.round(performance.now() - started),
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
}
