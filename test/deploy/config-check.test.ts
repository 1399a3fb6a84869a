/**
 * `memshift config check` against real backends: all there passes; a dead legacy port fails, named; a guard webhook is
 * reached, not posted to; where held writes are kept is named (memory only warned of); a bad key is refused, named;
 * an Unleash whose certificate a private CA signed fails with the reason and the way to trust that CA, and passes
 * once memshift's process trusts it; `memshift flags status` says when Unleash was not reached.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { command as flagsCommand } from '../../src/commands/flags.js';
import { command } from '../../src/commands/config.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { SIM_SERVICES } from '../../src/tools/sim/services.js';
import { runCommand } from '../support/cli.js';
import { freshDatabaseUrl } from '../support/database.js';
import { startSims } from '../support/stack.js';

let sims: SimHandle;
let sets: string[];

beforeAll(async () => {
  sims = await startSims();
  sets = [
    `store.url=${await freshDatabaseUrl()}`,
    `orchestrator.endpoint=${sims.endpoints.orchestrator}`,
    ...SIM_SERVICES.map((s) => `services.${s}.legacy.endpoint=${sims.endpoints[s]}`),
  ];
});
afterAll(async () => {
  await sims?.close();
});

const check = (extra: string[] = []) => runCommand(command, ['check', ...[...sets, ...extra].flatMap((s) => ['--set', s])]);

it('passes when the store, every legacy service, the orchestrator and the flags file answer', async () => {
  const { code, out } = await check();
  expect(out).toMatch(/^configuration: valid$/m);
  for (const s of SIM_SERVICES) expect(out).toMatch(new RegExp(`^ok +${s} legacy tcp://`, 'm'));
  expect(out).toMatch(/^ok +orchestrator tcp:/m);
  expect(out).toMatch(/^ok +state store postgres/m);
  // Reconcile's inputs are not configured here: warnings, not failures.
  expect(out).toMatch(/^warn +orchestrator database for reconcile/m);
  // session-memory's agent stamps local times, in a zone memshift cannot ask it for.
  expect(out).toMatch(/^warn +session-memory times local to memshift's own zone, \S+: services\.session-memory\.timeZone not set/m);
  expect(out).not.toMatch(/jarvis-memory times/);
  // A real store and no held file: a kill while the store is away would lose the writes held then.
  expect(out).toMatch(/^warn +writes held while the state store is away: in memory only: outbox\.heldFile not set/m);
  expect(code).toBe(0);
});

it('says where writes held while the store is away are kept, and warns when that directory cannot be written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'memshift-held-check-'));
  try {
    const kept = await check([`outbox.heldFile=${join(dir, 'held.jsonl')}`]);
    expect(kept.out).toMatch(new RegExp(`^ok +writes held while the state store is away: kept in ${dir}/held\\.jsonl$`, 'm'));
    const nowhere = await check([`outbox.heldFile=${join(dir, 'gone', 'held.jsonl')}`]);
    expect(nowhere.out).toMatch(/^warn +writes held while the state store is away: kept in \S+\/gone\/held\.jsonl: its directory cannot be written here/m);
    expect(nowhere.code).toBe(0);
    // Under refuse nothing is held: nothing to say.
    expect((await check(['outbox.whenStoreAway=refuse'])).out).not.toMatch(/writes held while/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('reaches each guard webhook without posting to it, naming it by its origin (the rest of its URL is a secret)', async () => {
  const methods: string[] = [];
  const hook = createHttpServer((req, res) => {
    methods.push(req.method!);
    res.writeHead(405).end();
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(hook.address() as AddressInfo).port}`;
  // A port nothing listens on (fetch refuses port 1 itself, as a browser does).
  const gone = createHttpServer();
  await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
  const closed = `http://127.0.0.1:${(gone.address() as AddressInfo).port}`;
  await new Promise((r) => gone.close(r));
  try {
    const { code, out } = await check([`guard.webhooks=[${origin}/services/T0/B0/hookSECRET1, ${closed}/hooks/hookSECRET2]`]);
    expect(out).toMatch(new RegExp(`^ok +guard webhook ${origin}/…$`, 'm'));
    expect(out).toMatch(new RegExp(`^warn +guard webhook ${closed}/…: fetch failed: .*ECONNREFUSED`, 'm'));
    expect(out).not.toMatch(/hookSECRET/);
    expect(methods).toEqual(['HEAD']);
    // A webhook out of reach is a warning: the guard still works, its chat line does not.
    expect(code).toBe(0);
  } finally {
    await new Promise((r) => hook.close(r));
  }
});

it("takes a service's time zone from its config, and refuses a zone that is none", async () => {
  const { code, out } = await check(['services.session-memory.timeZone=Asia/Manila']);
  expect(out).toMatch(/^ok +session-memory times local to Asia\/Manila$/m);
  expect(code).toBe(0);
  await expect(check(['services.session-memory.timeZone=Mars/Olympus'])).rejects.toThrow(/services\.session-memory\.timeZone: must be an IANA time zone/);
});

it('fails, naming it, when a legacy service does not answer', async () => {
  const { code, out } = await check(['services.jarvis-memory.legacy.endpoint=tcp://127.0.0.1:1']);
  expect(out).toMatch(/^FAIL +jarvis-memory legacy tcp:\/\/127\.0\.0\.1:1: no reply within/m);
  expect(out).toMatch(/1 required check\(s\) failed/);
  expect(code).toBe(1);
});

it('refuses an invalid configuration, naming the key', async () => {
  await expect(check(['services.jarvis-memory.legacy.endpoint=nope'])).rejects.toThrow(/services\.jarvis-memory\.legacy\.endpoint/);
});

it('names why Unleash was not reached: a certificate a private CA signed, and how to trust it; flags status says so too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'memshift-unleash-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'key.pem',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { cwd: dir, stdio: 'pipe' },
  );
  const features = readFileSync('flags/memshift.json');
  const unleash = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'ca.pem')) }, (req, res) => {
    res.writeHead(req.url?.startsWith('/api/client/features') ? 200 : 202, { 'content-type': 'application/json' });
    res.end(req.url?.startsWith('/api/client/features') ? features : '{}');
  });
  await new Promise<void>((r) => unleash.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${(unleash.address() as AddressInfo).port}/api/`;
  try {
    const flagsAt = ['flags.url=' + url, 'flags.apiToken=default:development.secret'];
    const { code, out } = await check(flagsAt);
    expect(out).toMatch(/^FAIL +Unleash client API https:\S+: fetch failed: self-signed certificate \(a private CA: NODE_EXTRA_CA_CERTS=/m);
    expect(code).toBe(1);
    const status = await runCommand(flagsCommand, ['status', '--url', url]);
    expect(status.out).toMatch(/^Unleash at https:\S+ not reached \(fetch failed: self-signed certificate.*\): the flags file's flags/m);
    expect(status.code).toBe(2);
    // memshift's own process told of the CA, as the hint says: reached.
    const bin = process.env.MEMSHIFT_BIN;
    expect(bin, 'the suite points children at its build').toBeDefined();
    const trusted = await promisify(execFile)(process.execPath, [bin!, 'config', 'check', ...[...sets, ...flagsAt].flatMap((x) => ['--set', x])], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') },
    }).catch((err: { stdout: string }) => ({ stdout: err.stdout }));
    expect(trusted.stdout).toMatch(/^ok +Unleash client API https:/m);
  } finally {
    unleash.close();
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
