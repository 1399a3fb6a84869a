/**
 * A write a replica held in outbox.heldFile while the store was away (alone, so held: `hold-alone`), the replica
 * killed, and the agent's next write of the key served by another replica before the first one's restart: stored
 * at that restart, the held write lands on the orchestrator after the later one. The restarted replica says so, as
 * for writes it held in memory itself: the key counted in memshift_outbox_reordered_keys and named in its log.
 * Both replicas run as child processes.
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
import { addInteraction, dualWriteFlags, legacyContents, newRecords, openRows, sendJson, waitUntil } from './support.js';

let sims: SimHandle;
let flagsFile: Awaited<ReturnType<typeof dualWriteFlags>>;
let relay: Relay;
let relayedUrl: string;
let url: string;
let dir: string;
const children: Child[] = [];

/** A replica on `front`, its store `storeUrl`; the one through the relay keeps its held writes in a file. */
async function replica(front: string, storeUrl: string, heldFile?: string): Promise<{ child: Child; front: string; http: string }> {
  const sets = [`store.url=${storeUrl}`, `flags.file=${flagsFile.file}`, ...(heldFile ? [`outbox.heldFile=${heldFile}`] : [])];
  const started = await startSessionProxy(sims, front, sets);
  children.push(started.child);
  return started;
}

/** memshift_outbox_reordered_keys as a replica's /metrics shows it. */
async function reorderedKeys(http: string): Promise<number> {
  const text = await (await fetch(`${http}/metrics`)).text();
  const line = /^memshift_outbox_reordered_keys(?:\{[^}]*\})? (\d+)/m.exec(text);
  if (!line) throw new Error(`no memshift_outbox_reordered_keys in /metrics:\n${text}`);
  return Number(line[1]);
}

beforeAll(async () => {
  sims = await startSims();
  flagsFile = await dualWriteFlags();
  url = await freshDatabaseUrl();
  ({ relay, url: relayedUrl } = await Relay.before(url));
  dir = await mkdtemp(join(tmpdir(), 'memshift-held-overtaken-'));
}, 60_000);
afterAll(async () => {
  for (const c of children) await c.stop();
  await relay?.close();
  await flagsFile?.dispose();
  await sims?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it("counts a held write replayed after a kill that another replica's later write of its key overtook", async () => {
  const heldFile = join(dir, 'held-writes.jsonl');
  const first = await replica('tcp://127.0.0.1:*', relayedUrl, heldFile);
  const sid = 'replayed-overtaken';
  expect(await sendJson(first.front, { action: 'create_session', session_id: sid, user_id: 'u' })).toMatchObject({ status: 'success' });
  expect(await addInteraction(first.front, sid, 'one')).toMatchObject({ status: 'success' });
  await waitUntil(() => newRecords(sims, sid).contents.length === 1, 20_000, 'the first write on new');
  await waitUntil(async () => (await openRows(url)).open === 0, 20_000, 'the first write finished in the outbox');

  relay.cut();
  // Alone, the replica holds the write (in memory and in its file) and legacy applies it.
  expect(await addInteraction(first.front, sid, 'two')).toMatchObject({ status: 'success' });
  // Its line, and its primary's answer noted once it came.
  const lines = async () => (await readFile(heldFile, 'utf8')).split('\n').filter(Boolean);
  await waitUntil(async () => (await lines()).length === 2, 10_000, 'the write and its answer in the file');
  expect((await lines()).filter((l) => !l.includes('"answered"'))).toHaveLength(1);
  first.child.proc.kill('SIGKILL');
  await new Promise((r) => first.child.proc.once('exit', r));

  // The agent's next write goes through another replica, whose store answers: on new it lands first.
  const other = await replica('tcp://127.0.0.1:*', url);
  expect(await addInteraction(other.front, sid, 'three')).toMatchObject({ status: 'success' });
  await waitUntil(() => newRecords(sims, sid).contents.length === 2, 20_000, "the other replica's write on new");

  relay.restore();
  const restarted = await replica(first.front, relayedUrl, heldFile);
  await waitUntil(() => newRecords(sims, sid).contents.length === 3, 60_000, 'the held write on new');
  await waitUntil(async () => (await openRows(url)).open === 0, 30_000, 'outbox drained');

  expect(legacyContents(sims, sid)).toEqual(['one', 'two', 'three']);
  // The limit itself (README "What it cannot order"), now told.
  expect(newRecords(sims, sid).contents).toEqual(['one', 'three', 'two']);
  expect(await reorderedKeys(restarted.http), restarted.child.output()).toBe(1);
  expect(restarted.child.output()).toContain('"heldByEarlierProcess":true');
  expect(await reorderedKeys(other.http)).toBe(0);
}, 150_000);
