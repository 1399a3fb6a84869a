/**
 * A write a killed process held while the store was away (outbox.heldFile), its copy to the orchestrator not landed,
 * and the next start at new-primary, where the store, having taken the held write, does not answer a read's question
 * about the key: the earlier process wrote the key first to legacy, so the read is served by legacy, which has it, not
 * by the orchestrator without it (chaos seed 385: a read-back at new-primary without its last acknowledged write, a
 * restart after a kill with 527 held writes). The proxies run as child processes.
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
import { requestOnce } from '../support/zmq-client.js';
import { dualWriteFlags, legacyContents, newRecords, queryOnce, waitUntil } from './support.js';

const SID = 'held-turn';
let sims: SimHandle;
let dualWrite: Awaited<ReturnType<typeof dualWriteFlags>>;
let newPrimary: Awaited<ReturnType<typeof dualWriteFlags>>;
let relay: Relay;
let relayedUrl: string;
let url: string;
let dir: string;
let child: Child | undefined;

beforeAll(async () => {
  sims = await startSims();
  dualWrite = await dualWriteFlags();
  newPrimary = await dualWriteFlags('new-primary');
  url = await freshDatabaseUrl();
  ({ relay, url: relayedUrl } = await Relay.before(url));
  dir = await mkdtemp(join(tmpdir(), 'memshift-held-turn-'));
}, 60_000);
afterAll(async () => {
  relay?.thaw();
  // Not this test's subject: a shutdown that hangs (CI run 263, once, beside the suite) is printed and killed.
  if (child) await stopOrKill(child);
  await relay?.close();
  await dualWrite?.dispose();
  await newPrimary?.dispose();
  await sims?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it("serves a read at new-primary from legacy while the store cannot tell whether a killed process's held copy of the key landed", async () => {
  const heldFile = join(dir, 'held-writes.jsonl');
  // A long orchestrator timeout makes the held write's primary budget (its look-up's wait) outlast the test's steps.
  const sets = (flags: string) => [`store.url=${relayedUrl}`, `flags.file=${flags}`, `outbox.heldFile=${heldFile}`, 'orchestrator.timeoutMs=8000'];
  const first = await startSessionProxy(sims, 'tcp://127.0.0.1:*', sets(dualWrite.file));
  child = first.child;
  const send = async (request: unknown) => JSON.parse((await requestOnce(first.front, request, 15_000)).toString('utf8')) as Record<string, unknown>;
  expect(await send({ action: 'create_session', session_id: SID, user_id: 'u' })).toMatchObject({ status: 'success' });
  expect(await send({ action: 'add_interaction', session_id: SID, role: 'user', content: 'one' })).toMatchObject({ status: 'success' });
  await waitUntil(() => newRecords(sims, SID).contents.includes('one'), 20_000, 'the first copied');

  // The store out of reach and the orchestrator down: the second write is acknowledged by legacy, its copy held.
  relay.cut();
  await sims.down('orchestrator');
  expect(await send({ action: 'add_interaction', session_id: SID, role: 'user', content: 'two' })).toMatchObject({ status: 'success' });
  // Acknowledged once on disk: the file names its key.
  expect(await readFile(heldFile, 'utf8')).toContain(SID);
  child.proc.kill('SIGKILL');
  await new Promise((r) => child!.proc.once('exit', r));
  child = undefined;
  await sims.up('orchestrator');
  relay.restore();

  const second = await startSessionProxy(sims, first.front, sets(newPrimary.file));
  child = second.child;
  const held = `SELECT 1 FROM outbox WHERE key = '${SID}' AND side = 'new' AND open`;
  await waitUntil(async () => (await queryOnce(url, held)).length === 1, 20_000, 'the held write stored');
  // Emptied once every held write is stored: none is held in memory any more, where a read would find it without the store.
  await waitUntil(async () => (await readFile(heldFile, 'utf8')) === '', 20_000, 'the held file emptied');
  relay.freeze();
  const context = await send({ action: 'get_context', session_id: SID });
  relay.thaw();
  expect(legacyContents(sims, SID)).toEqual(['one', 'two']);
  expect(newRecords(sims, SID).contents).toEqual(['one']);
  // Before: the orchestrator's answer, without the acknowledged write.
  expect(context, second.child.output()).toMatchObject({ status: 'success', context: [{ content: 'one' }, { content: 'two' }] });
}, 120_000);
