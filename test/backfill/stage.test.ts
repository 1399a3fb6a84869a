/**
 * The backfill and repairs refuse to rewrite the side agents write first: at new-primary the orchestrator takes the
 * writes directly, which no key hold holds back (a backfill there lost an acknowledged write while agents wrote).
 * Refused before they start, stopped before the next batch (backfill) or key (repair) when the stage moves there meanwhile.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startChild } from '../../src/tools/bench/processes.js';
import { openStore, type Store } from '../../src/store/index.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { send } from '../sim/helpers.js';
import { freshDatabaseUrl } from '../support/database.js';
import { startSims } from '../support/stack.js';
import { flagsOn } from '../outbox/support.js';

const SERVICE = 'jarvis-memory';
const USERS = 40;

let dir: string;
let store: Store;
let sims: SimHandle;
let settings: string[];
let flagsFile: string;
const disposals: (() => Promise<void>)[] = [];

/** The shared flags file set to the service's `flags` (as an operator edits it; the child reads it again). */
async function setFlags(...flags: string[]): Promise<void> {
  const made = await flagsOn(SERVICE, ...flags);
  disposals.push(made.dispose);
  await writeFile(flagsFile, await readFile(made.file));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'memshift-backfill-stage-'));
  const url = await freshDatabaseUrl();
  store = await openStore({ url });
  sims = await startSims({ storage: { dataDir: dir, orchestratorDatabaseUrl: url, writeDelayMs: 10 } });
  for (let u = 0; u < USERS; u++) await send(sims.endpoints[SERVICE], { action: 'add_memory', user_id: `s${u}`, memory: `old ${u}` });
  await sims.flush();
  flagsFile = join(dir, 'flags.json');
  settings = Object.entries({
    'store.url': url,
    'orchestrator.endpoint': sims.endpoints.orchestrator,
    'reconcile.legacyDataDir': dir,
    'reconcile.orchestratorDatabaseUrl': url,
    // The simulated orchestrator writes its PostgreSQL up to writeDelayMs after it answers (later on a busy machine):
    // a backfill's closing run reading it at once missed the last write in run 158. A clean run re-checks nothing.
    'reconcile.recheckDelayMs': 500,
    'flags.file': flagsFile,
  }).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
}, 60_000);

afterAll(async () => {
  await sims?.close();
  await store?.close();
  for (const dispose of disposals) await dispose();
  rmSync(dir, { recursive: true, force: true });
});

async function run(args: string[]): Promise<{ code: number | null; out: string }> {
  const child = startChild([...args, '--service', SERVICE, ...settings]);
  const code = await new Promise<number | null>((resolve) => child.proc.once('exit', resolve));
  return { code, out: child.output() };
}

const memoriesOnNew = async () => Number((await store.pool.query(`SELECT count(*) AS n FROM memory_entries WHERE is_active`)).rows[0].n);

it('refuses a backfill, and a repair towards the orchestrator, at new-primary; compares all the same', async () => {
  await setFlags('dual-write', 'new-primary');
  const backfill = await run(['backfill']);
  expect(backfill.code, backfill.out).toBe(2);
  expect(backfill.out).toMatch(/backfill refused: jarvis-memory is at stage new-primary, where agents' writes land on the new side first/);
  const repair = await run(['reconcile', '--repair', '--truth', 'legacy']);
  expect(repair.code, repair.out).toBe(2);
  expect(repair.out).toMatch(/repair refused: jarvis-memory is at stage new-primary/);
  expect(await memoriesOnNew()).toBe(0);
  // Comparing writes nothing: allowed, and it finds every key missing on the orchestrator.
  const compare = await run(['reconcile', '--truth', 'legacy']);
  expect(compare.out).toMatch(new RegExp(`missing in new ${USERS}\\b`));
}, 60_000);

it('stops a backfill before its next batch once the stage moves to new-primary, and resumes there when it moves back', async () => {
  await setFlags('dual-write');
  // Paced so that it is still running when the flags change: 40 keys of one memory at 10 writes/s.
  const child = startChild(['backfill', '--batch', '2', '--rate', '10', '--concurrency', '1', '--service', SERVICE, ...settings]);
  const exited = new Promise<number | null>((resolve) => child.proc.once('exit', resolve));
  await expect.poll(memoriesOnNew, { timeout: 30_000 }).toBeGreaterThan(0);
  await setFlags('dual-write', 'new-primary');
  expect(await exited, child.output()).toBe(1);
  expect(child.output()).toMatch(/stopped \(jarvis-memory is at stage new-primary[^)]*\), resume by running it again/);
  const written = await memoriesOnNew();
  expect(written).toBeLessThan(USERS);
  await setFlags('dual-write');
  const resumed = await run(['backfill', '--rate', '0']);
  expect(resumed.code, resumed.out).toBe(0);
  expect(resumed.out).toMatch(/resumed after/);
  expect(await memoriesOnNew()).toBe(USERS);
}, 90_000);

it('stops a repair towards the orchestrator before its next key once the stage moves to new-primary', async () => {
  await setFlags('dual-write');
  for (let u = 0; u < USERS; u++) await send(sims.endpoints[SERVICE], { action: 'add_memory', user_id: `r${u}`, memory: `missed ${u}` });
  await sims.flush();
  const repaired = async () =>
    Number((await store.pool.query(`SELECT count(*) AS n FROM memory_entries WHERE is_active AND content::text LIKE '%missed %'`)).rows[0].n);
  // A slow orchestrator (300 ms a call) keeps the repair going while the flags change.
  sims.setFaults('orchestrator', { latencyMs: 300 });
  try {
    const child = startChild(['reconcile', '--repair', '--service', SERVICE, ...settings]);
    const exited = new Promise<number | null>((resolve) => child.proc.once('exit', resolve));
    await expect.poll(repaired, { timeout: 30_000 }).toBeGreaterThan(0);
    await setFlags('dual-write', 'new-primary');
    expect(await exited, child.output()).toBe(1);
    expect(child.output()).toMatch(/repair stopped: the keys left are not written/);
    expect(child.output()).toMatch(/repair failed [1-9]/);
    expect(await repaired()).toBeLessThan(USERS);
  } finally {
    sims.setFaults('orchestrator', { latencyMs: 0 });
  }
}, 90_000);
