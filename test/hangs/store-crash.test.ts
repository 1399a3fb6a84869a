/**
 * Acceptance, the state store's own crash: memshift on its embedded PostgreSQL, both killed with SIGKILL
 * three times in 60 s under write load, then restarted (PostgreSQL recovers from its WAL). Synchronous
 * commits by default: no acknowledged write is missing on either side, and none is applied twice.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SimHandle } from '../../src/sim/index.js';
import { startSims } from '../support/stack.js';
import { expectSidesAgree, flagsWith, Load, MemshiftChild, sidesEqual, sleep, stageFlags, waitUntil } from './support.js';

let sims: SimHandle;
let flags: Awaited<ReturnType<typeof flagsWith>>;
let dir: string;
let memshift: MemshiftChild;

beforeAll(async () => {
  sims = await startSims();
  flags = await flagsWith(stageFlags('dual-write'));
  dir = await mkdtemp(join(tmpdir(), 'memshift-store-crash-'));
  memshift = await MemshiftChild.start(sims, { store: [`store.dataDir=${join(dir, 'pg')}`], flagsFile: flags.file });
}, 120_000);
afterAll(async () => {
  await memshift?.stop();
  await flags?.dispose();
  await sims?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The embedded server's postmaster, from its lock file. */
const postmaster = async (): Promise<number> => Number((await readFile(join(dir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[0]);

it('loses and repeats no acknowledged write when PostgreSQL and memshift die together, three times', async () => {
  const load = new Load({ prefix: 'pgcrash', agents: { 'session-memory': 6, 'jarvis-memory': 6 }, intervalMs: 40, endpoint: (s) => memshift.fronts[s] });
  for (let k = 0; k < 3; k++) {
    await sleep(15_000);
    const pg = await postmaster();
    await memshift.kill();
    process.kill(pg, 'SIGKILL');
    await waitUntil(() => !alive(pg), 10_000, 'postgres gone');
    await memshift.restart();
  }
  await sleep(5_000);
  await load.stop();
  await waitUntil(() => sidesEqual(sims, load), 120_000, 'both sides equal');

  expect(load.acked).toBeGreaterThan(3_000);
  expectSidesAgree(sims, load);
}, 240_000);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
