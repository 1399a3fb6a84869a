/**
 * A killed process's copy of a key to the orchestrator not landed, and the next start at new-primary, where the store
 * does not answer a question about the key. Held while the store was away (outbox.heldFile), the store having taken it
 * since: the earlier process wrote the key first to legacy, so a read is served by legacy, which has it, not by the
 * orchestrator without it (chaos seed 385: a read-back at new-primary without its last acknowledged write, a restart
 * after a kill with 527 held writes). Stored: the key's read and write are refused until the store tells (chaos seed
 * 797: a write went first to the orchestrator ahead of such copies). The proxies run as child processes.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { Child } from '../../src/tools/bench/processes.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { Relay } from '../support/relay.js';
import { startSims } from '../support/stack.js';
import { startSessionProxy } from '../support/session-proxy.js';
import { stopOrKill } from '../support/stop-child.js';
import { requestOnce } from '../support/zmq-client.js';
import { dualWriteFlags, legacyContents, newRecords, queryOnce, waitUntil } from './support.js';

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
  dir = await mkdtemp(join(tmpdir(), 'memshift-restart-turn-'));
}, 60_000);
afterEach(async () => {
  relay?.thaw();
  // Not this test's subject: a shutdown that hangs (CI run 263, once, beside the suite) is printed and killed.
  if (child) await stopOrKill(child);
  child = undefined;
});
afterAll(async () => {
  await relay?.close();
  await dualWrite?.dispose();
  await newPrimary?.dispose();
  await sims?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it("serves a read at new-primary from legacy while the store cannot tell whether a killed process's held copy of the key landed", async () => {
  const SID = 'held-turn';
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

it("refuses a key at new-primary while the store cannot tell whether a killed process's stored copy of it landed", async () => {
  const SID = 'stored-turn';
  // `hold`: a replica alone on the store holds writes while it is away (as `hold-alone` does alone); the killed process,
  // still a peer to the next for a few publications, would have it refuse every write then, whatever this case's cause.
  const sets = (flags: string) => [
    `store.url=${relayedUrl}`,
    `flags.file=${flags}`,
    `outbox.heldFile=${join(dir, 'stored.jsonl')}`,
    'outbox.whenStoreAway=hold',
  ];
  const first = await startSessionProxy(sims, 'tcp://127.0.0.1:*', sets(dualWrite.file));
  child = first.child;
  const send = async (request: unknown) => JSON.parse((await requestOnce(first.front, request, 15_000)).toString('utf8')) as Record<string, unknown>;
  const add = (content: string) => send({ action: 'add_interaction', session_id: SID, role: 'user', content });
  expect(await send({ action: 'create_session', session_id: SID, user_id: 'u' })).toMatchObject({ status: 'success' });
  expect(await add('one')).toMatchObject({ status: 'success' });
  await waitUntil(() => newRecords(sims, SID).contents.includes('one'), 20_000, 'the first copied');

  // The orchestrator failing: the second write is acknowledged by legacy, its copy stored and not landed when the process dies.
  await sims.applyFaults('orchestrator', { errorRate: 1 });
  expect(await add('two')).toMatchObject({ status: 'success' });
  const open = `SELECT status, attempts FROM outbox WHERE key = '${SID}' AND side = 'new' AND open`;
  const [killed] = await queryOnce<{ attempts: number }>(url, open);
  expect(killed).toBeDefined();
  child.proc.kill('SIGKILL');
  await new Promise((r) => child!.proc.once('exit', r));
  child = undefined;

  const second = await startSessionProxy(sims, first.front, sets(newPrimary.file), { MEMSHIFT_LOG_LEVEL: 'info' });
  child = second.child;
  // Taken over and tried once by the new process (which so learnt the orchestrator's session id: a look-up of it needs
  // no store then, as in the chaos run).
  const tried = async () =>
    (await queryOnce<{ attempts: number; status: string }>(url, open)).some((r) => r.attempts > killed!.attempts && r.status === 'pending');
  await waitUntil(tried, 60_000, "the killed process's copy tried by the next", async () => JSON.stringify([killed, await queryOnce(url, open)]));
  // And the store has told it of copies made before it started on their way to the orchestrator.
  await waitUntil(() => second.child.output().includes('writes made before this replica started are on their way'), 30_000, 'the earlier copies told of');
  // The store stops answering before the orchestrator is back: the copy cannot be sent (its claim is a statement).
  relay.freeze();
  await sims.applyFaults('orchestrator', { errorRate: 0 });
  const [context, three] = [await send({ action: 'get_context', session_id: SID }), await add('three')];
  relay.thaw();
  // Before: the read answered by the orchestrator without 'two', the write made there first, ahead of it.
  const refused = { status: 'error', message: expect.stringContaining('made before this process started') };
  expect(context, second.child.output()).toMatchObject(refused);
  expect(three).toMatchObject(refused);
  await waitUntil(async () => (await queryOnce(url, open)).length === 0, 60_000, "the killed process's copy landed");
  expect(await add('three')).toMatchObject({ status: 'success' });
  await waitUntil(() => legacyContents(sims, SID).length === 3, 20_000, 'the third copied');
  expect(legacyContents(sims, SID)).toEqual(['one', 'two', 'three']);
  expect(newRecords(sims, SID).contents).toEqual(['one', 'two', 'three']);
}, 180_000);
