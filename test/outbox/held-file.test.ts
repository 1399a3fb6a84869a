/**
 * kill -9 of a proxy while the state store is away (its relay cut): the writes it held and acknowledged meanwhile
 * were kept in outbox.heldFile, and the next start, the store back, stores them first: none is missing on the
 * orchestrator, in the primary's order. The proxy runs as a child process.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Child } from '../../src/tools/bench/processes.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { Relay } from '../support/relay.js';
import { startSims } from '../support/stack.js';
import { startSessionProxy } from '../support/session-proxy.js';
import { stopOrKill } from '../support/stop-child.js';
import { collapse, dualWriteFlags, legacyContents, newRecords, openRows, sleep, waitUntil, WriteLoad } from './support.js';

let sims: SimHandle;
let flagsFile: Awaited<ReturnType<typeof dualWriteFlags>>;
let relay: Relay;
let relayedUrl: string;
let url: string;
let dir: string;
let front = 'tcp://127.0.0.1:*';
let child: Child | undefined;

const AGENTS = 4;
const heldFile = () => join(dir, 'held-writes.jsonl');

async function startProxyChild(): Promise<Child> {
  // The default lease: the earlier process's writes, stored with their primary's outcome unknown, are looked up once
  // their primary calls' budget (the legs' timeout and a second) has run out, not a lease later.
  const sets = [`store.url=${relayedUrl}`, `flags.file=${flagsFile.file}`, `outbox.heldFile=${heldFile()}`];
  const started = await startSessionProxy(sims, front, sets);
  front = started.front;
  return started.child;
}

beforeAll(async () => {
  sims = await startSims();
  flagsFile = await dualWriteFlags();
  url = await freshDatabaseUrl();
  ({ relay, url: relayedUrl } = await Relay.before(url));
  dir = await mkdtemp(join(tmpdir(), 'memshift-held-'));
  child = await startProxyChild();
}, 60_000);
afterAll(async () => {
  if (child) await stopOrKill(child);
  await relay?.close();
  await flagsFile?.dispose();
  await sims?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('stores at the next start the writes a process killed while the store was away held and acknowledged', async () => {
  const load = new WriteLoad({ prefix: 'heldfile', agents: AGENTS, intervalMs: 50, timeoutMs: 1500, endpoint: () => front });
  await sleep(1_500);
  relay.cut();
  const ackedAtCut = load.ackedCount;
  await sleep(3_000);
  const killed = child!;
  killed.proc.kill('SIGKILL');
  await new Promise((r) => killed.proc.once('exit', r));
  await load.stop();
  const ackedWhileAway = load.ackedCount - ackedAtCut;
  // The held writes' lines (their primaries' answers are noted on lines of their own).
  const kept = (await readFile(heldFile(), 'utf8')).split('\n').filter((l) => l && !l.includes('"answered"')).length;
  relay.restore();
  child = await startProxyChild();
  const missing = () => load.sessions.filter((sid) => !load.acked.get(sid)!.every((c) => newRecords(sims, sid).contents.includes(c)));
  await waitUntil(() => missing().length === 0, 60_000, 'the held writes on the orchestrator').catch(() => undefined);
  await waitUntil(async () => (await openRows(url)).open === 0, 30_000, 'outbox drained').catch(() => undefined);

  // Writes were acknowledged while the store was away, and each held one was on disk when the process died (but
  // for one per agent at most, its intent stored just before the cut and its answer after).
  expect(ackedWhileAway).toBeGreaterThan(20);
  expect(kept).toBeGreaterThanOrEqual(ackedWhileAway - AGENTS);
  for (const sid of load.sessions) {
    const acked = load.acked.get(sid)!;
    const fresh = newRecords(sims, sid).contents;
    expect(fresh, `${sid}: acknowledged writes on the orchestrator\n${child!.output()}`).toEqual(expect.arrayContaining(acked));
    expect(collapse(fresh), `${sid}: in the primary's order`).toEqual(collapse(legacyContents(sims, sid)).filter((c) => fresh.includes(c)));
  }
  // Emptied once the store took them.
  expect(await readFile(heldFile(), 'utf8')).toBe('');
}, 120_000);
