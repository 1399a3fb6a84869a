/**
 * deploy/Dockerfile without a container engine: its steps carried out in order in clean temporary directories
 * (one per stage: WORKDIR, COPY from the context or an earlier stage, ENV, RUN), then its ENTRYPOINT + CMD
 * started there and its HEALTHCHECK run against it, so the file cannot rot. RUN apt-get steps are the Debian
 * packages `npm test` installs first (test/support/system-packages.ts); the entry point runs as USER's uid (node's is
 * 1000 in the base image), in directories root made, as in the image (run as root, as CI runs the suite; otherwise
 * as the suite's own user, which cannot switch). The build stage's full `npm ci` is the
 * checkout's own install, linked in (below).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { freshDatabaseUrl } from '../support/database.js';
import { freePort } from '../../src/util/ports.js';

interface Stage {
  name: string;
  root: string;
  workdir: string;
  env: Record<string, string>;
}

/**
 * A RUN step's bound: an install from the cache takes under half a minute alone, under one in the whole suite. npm
 * now and then stops for good after its fetches (seen once in about twenty suites: silent for minutes, its log
 * ending at the last tarball; npm/cli#4028), so a step that reaches the bound is run once more (each is idempotent).
 */
const RUN_STEP_MS = 120_000;
const RUN_ATTEMPTS = 2;
const TOKEN = 'dockerfile-test-admin-token';

const lines = readFileSync('deploy/Dockerfile', 'utf8')
  .split('\n')
  .filter((l) => l.trim() && !l.startsWith('#'));
const instr = (l: string) => /^(\w+)\s+(.*)$/.exec(l)!.slice(1) as [string, string];
const json = (s: string): string[] => JSON.parse(s) as string[];

const scratch = mkdtempSync(join(tmpdir(), 'memshift-dockerfile-'));
// Readable by the image's user, as an image's root-made directories are (mkdtemp makes it root's alone).
chmodSync(scratch, 0o755);
/** The base image's node user. */
const NODE_UID = 1000;
let server: ChildProcess | undefined;
afterAll(() => {
  // tini and memshift under it: tini killed alone would leave memshift running (outside a container it reaps nothing).
  if (server?.pid && server.exitCode === null) {
    const children = spawnSync('pgrep', ['-P', String(server.pid)], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter(Boolean);
    for (const pid of [server.pid, ...children.map(Number)]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  }
  rmSync(scratch, { recursive: true, force: true });
});

it('builds and starts as deploy/Dockerfile says: compiled, production dependencies only, non-root, healthy', async () => {
  const stages: Stage[] = [];
  let stage: Stage | undefined;
  let entrypoint: string[] = [];
  let cmd: string[] = [];
  let healthcheck: string[] = [];
  let user = 'root';
  const at = (s: Stage, path: string) => join(s.root, path.startsWith('/') ? path : join(s.workdir, path));
  for (const line of lines) {
    const [op, arg] = instr(line);
    if (op === 'FROM') {
      expect(arg).toMatch(/^node:20-bookworm-slim\b/);
      stage = { name: / AS (\w+)$/.exec(arg)?.[1] ?? `stage${stages.length}`, root: join(scratch, `stage${stages.length}`), workdir: '/', env: {} };
      mkdirSync(stage.root, { recursive: true });
      stages.push(stage);
    } else if (op === 'WORKDIR') {
      stage!.workdir = arg;
      mkdirSync(at(stage!, '.'), { recursive: true });
    } else if (op === 'ENV') {
      const [k, v] = arg.split('=') as [string, string];
      stage!.env[k] = v;
    } else if (op === 'COPY') {
      const parts = arg.split(/\s+/);
      const from = parts[0]!.startsWith('--from=') ? stages.find((s) => s.name === parts.shift()!.slice('--from='.length))! : undefined;
      const dest = parts.pop()!;
      for (const src of parts) {
        const source = from ? at(from, src) : src;
        const target = dest.endsWith('/') ? join(at(stage!, dest), src.split('/').pop()!) : at(stage!, dest);
        mkdirSync(dirname(target), { recursive: true });
        cpSync(source, target, { recursive: true });
      }
    } else if (op === 'RUN') {
      if (arg.startsWith('apt-get')) {
        for (const pkg of /install -y --no-install-recommends ([\w\s-]+?) &&/.exec(arg)![1]!.split(/\s+/))
          expect(existsSync(`/usr/bin/${pkg}`), `${pkg} (system-packages.ts)`).toBe(true);
        continue;
      }
      // The build stage's full install is the checkout's own, made by the same command from the same lockfile
      // (.ci/run's `npm ci`): linked in rather than made a second time (45 s of CPU). The runtime stage's production
      // install, whose result differs, is made as written.
      if (/^npm ci\b/.test(arg) && !arg.includes('--omit=dev')) {
        expect(existsSync(at(stage!, 'package-lock.json')), 'the lockfile is copied before the install').toBe(true);
        symlinkSync(resolve('node_modules'), at(stage!, 'node_modules'));
        continue;
      }
      // The npm cache of this machine's own install serves the packages, and only it: a registry that answers
      // slowly or holds a connection (seen: 12 minutes in one run) would hold this synchronous call, and with it the
      // suite. The commands are the Dockerfile's; each is bounded all the same.
      const run = () =>
        spawnSync('bash', ['-c', arg], {
          cwd: at(stage!, '.'),
          env: { ...process.env, ...stage!.env, npm_config_offline: 'true' },
          encoding: 'utf8',
          timeout: RUN_STEP_MS,
          killSignal: 'SIGKILL',
        });
      let r = run();
      for (let attempt = 2; attempt <= RUN_ATTEMPTS && r.status === null; attempt++) {
        console.warn(`RUN ${arg}: no end within ${RUN_STEP_MS} ms (${String(r.error)}), attempt ${attempt}`);
        r = run();
      }
      expect(r.status, `RUN ${arg} (${r.error ? String(r.error) : `exit ${r.status}`})\n${r.stdout}\n${r.stderr}`).toBe(0);
    } else if (op === 'USER') user = arg;
    else if (op === 'ENTRYPOINT') entrypoint = json(arg);
    else if (op === 'CMD') cmd = json(arg);
    else if (op === 'HEALTHCHECK') healthcheck = json(/CMD (\[.*\])$/.exec(arg)![1]!);
    else expect(['EXPOSE'], `unexpected instruction ${op}`).toContain(op);
  }
  const final = stages.at(-1)!;
  const app = at(final, '.');
  // By number, not name: Kubernetes' runAsNonRoot cannot check a name (CreateContainerConfigError).
  expect(user).toMatch(/^\d+(:\d+)?$/);
  const uid = Number(user.split(':')[0]);
  expect(uid).not.toBe(0);
  expect(uid, `USER ${user} is the base image's node`).toBe(NODE_UID);
  // Production dependencies only, and the compiled code: no TypeScript sources, no tsx.
  expect(existsSync(join(app, 'dist/main.js'))).toBe(true);
  expect(existsSync(join(app, 'dist/dashboard/assets/app.js'))).toBe(true);
  expect(existsSync(join(app, 'src'))).toBe(false);
  expect(existsSync(join(app, 'node_modules/tsx'))).toBe(false);
  expect(existsSync(join(app, 'node_modules/zeromq'))).toBe(true);

  // Started as the image would be, against this suite's PostgreSQL (no legacy services: it serves and says so). Its
  // fronts take ports of the system's choosing; the HTTP port, which the HEALTHCHECK reads from the environment, is
  // picked before the start, and another test's process can take it meanwhile: then again on a new one.
  const [exe, ...rest] = [...entrypoint, ...cmd];
  const frontArgs = ['session-memory', 'contextual-memory', 'jarvis-memory'].flatMap((s) => ['--set', `services.${s}.front=tcp://127.0.0.1:*`]);
  const databaseUrl = await freshDatabaseUrl();
  let env: NodeJS.ProcessEnv = {};
  let out = '';
  let healthy = false;
  for (let attempt = 1; attempt <= 3; attempt++) {
    env = { ...process.env, ...final.env, DATABASE_URL: databaseUrl, MEMSHIFT_HTTP_PORT: String(await freePort()), MEMSHIFT_ADMIN_TOKEN: TOKEN };
    const as = process.getuid?.() === 0 ? { uid, gid: uid } : {};
    const started = spawn(exe!, [...rest, ...frontArgs], { cwd: app, env, ...as, stdio: ['ignore', 'pipe', 'pipe'] });
    server = started;
    out = '';
    healthy = false;
    started.stdout.on('data', (d: Buffer) => (out += d.toString()));
    started.stderr.on('data', (d: Buffer) => (out += d.toString()));
    // Healthy, and done starting (it says so once its fronts are bound too).
    for (const deadline = Date.now() + 60_000; !(healthy && /memshift serving/.test(out)) && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 500));
      if (started.exitCode !== null) break;
      const [hexe, ...hargs] = healthcheck;
      healthy = spawnSync(hexe!, hargs, { env, cwd: app }).status === 0;
    }
    if (!/Address already in use/.test(out)) break;
  }
  expect(healthy, out).toBe(true);
  expect(out).toMatch(/memshift serving/);
  // Today's report, served and written to its files in the app's own directory, which the user may write.
  const today = new Date().toISOString().slice(0, 10);
  const report = await fetch(`http://127.0.0.1:${env.MEMSHIFT_HTTP_PORT}/admin/reports/${today}.md`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(report.status, await report.clone().text()).toBe(200);
  expect(await report.text()).toMatch(/^# /);
  expect(existsSync(join(app, `.memshift/reports/${today}.md`)), out).toBe(true);
  server!.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => server!.once('exit', resolve));
  expect(code, out).toBe(0);
}, 480_000);
