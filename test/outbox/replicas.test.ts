/**
 * Two proxies on one state store: agents alternating between them while the orchestrator flaps, and two agents
 * writing one key at once (a session, a jarvis user), one through each: every write is applied exactly once, and
 * each key's writes in one order on both sides (the replicas take turns on a key through its write-order lock).
 */
import { expect, it } from 'vitest';
import pg from 'pg';
import { expectBothSidesEqual, legacyContents, newRecords, openRows, sleep, waitUntil, WriteLoad } from './support.js';
import { ReqClient } from '../support/zmq-client.js';
import { configFor } from '../support/stack.js';
import { useReplicas } from '../support/replicas.js';
import { memoriesOf } from './unknown-support.js';
import { startProxy, type Proxy } from '../../src/proxy.js';
import { PgKeyLocks } from '../../src/store/key-locks.js';
import { flagName } from '../../src/flags/names.js';
import { pyDumps } from '../../src/util/pyjson.js';

const JARVIS = 'jarvis-memory';
const dualWrite = { [flagName('session-memory', 'dual-write')]: { enabled: true }, [flagName(JARVIS, 'dual-write')]: { enabled: true } };
// Short backoff so retries land inside the up phases. Intents given 15 s: the subject is the orchestrator, and an
// intent slower than the default 500 ms on a busy machine's store is refused by hold-alone (another replica is live).
// (The refusals of runs 290, 291 and 294, first read as 5 s running out, came from the replicas' completions
// deadlocking, taken for an outage: fixed in 145c28e, store-conflict.test.ts.)
const stack = useReplicas(dualWrite, 2, { outbox: { maxBackoffMs: 800, intentTimeoutMs: 15_000 } });

/** The store's outbox empty, then every given replica's secondary writes done. */
async function drained(proxies: Proxy[], withinMs: number): Promise<void> {
  await waitUntil(async () => (await openRows(stack.url())).open === 0, withinMs, 'outbox drained');
  await Promise.all(proxies.map((p) => p.runner.secondary.drain()));
}

/** For each of `keys` keys, two agents (a REQ socket each) writing it at once, one through each replica's `front`. */
async function race(
  keys: number,
  writes: number,
  front: string,
  write: (agent: ReqClient, replica: number, key: number, n: number) => Promise<void>,
): Promise<void> {
  const agent = async (key: number, replica: number) => {
    const c = new ReqClient(stack.proxies()[replica]!.fronts[front]!, 10_000);
    try {
      for (let n = 0; n < writes; n++) await write(c, replica, key, n);
    } finally {
      c.close();
    }
  };
  await Promise.all(Array.from({ length: keys }, (_, k) => [agent(k, 0), agent(k, 1)]).flat());
}

it('applies every write once, in order per key, with two replicas and a flapping orchestrator', async () => {
  const [sims, proxies, url] = [stack.sims(), stack.proxies(), stack.url()];
  const load = new WriteLoad({
    prefix: 'replica',
    agents: 10,
    intervalMs: 40,
    // Each agent's consecutive writes go to alternate replicas: order per key has to hold across them.
    endpoint: (a, n) => proxies[(a + n) % 2]!.fronts['session-memory']!,
  });
  // Each flap: the orchestrator fails requests, goes away, comes back. It fails before going away so that no
  // write is in its hands, applied, as its socket closes: such a write would be replayed (at least once).
  for (let i = 0; i < 5; i++) {
    await sleep(600);
    await sims.applyFaults('orchestrator', { errorRate: 1 });
    await sleep(100);
    await sims.down('orchestrator');
    await sleep(600);
    await sims.applyFaults('orchestrator', { down: false, errorRate: 0 });
  }
  await sleep(500);
  await load.stop();
  await drained(proxies, 15_000);

  const db = new pg.Client({ connectionString: url });
  await db.connect();
  const { rows } = await db.query<{ owner: string; n: string; retried: string }>(
    `SELECT owner, count(*) AS n, count(*) FILTER (WHERE attempts > 1) AS retried FROM outbox WHERE status = 'done' GROUP BY owner`,
  );
  await db.end();
  const rowsDone = rows.reduce((a, r) => a + Number(r.n), 0);

  expect(load.errors, load.report).toBe(0);
  expect(rows.length, 'replicas that applied writes').toBe(2);
  expect(
    rows.reduce((a, r) => a + Number(r.retried), 0),
    'writes retried across the outages',
  ).toBeGreaterThan(0);
  expect((await openRows(url)).dead).toBe(0);
  // One row per acknowledged write (plus each agent's create_session), each applied once.
  expect(rowsDone).toBe(load.ackedCount + load.sessions.length);
  expectBothSidesEqual(sims, load);
}, 60_000);

it('keeps one order of a session on both sides when two agents write it at once, one through each replica', async () => {
  const [sims, proxies] = [stack.sims(), stack.proxies()];
  const SESSIONS = 20;
  const WRITES = 30;
  const sid = (s: number) => `race-${s}`;
  const setup = new ReqClient(proxies[0]!.fronts['session-memory']!, 10_000);
  for (let s = 0; s < SESSIONS; s++) await setup.call({ action: 'create_session', session_id: sid(s), user_id: `u${s}` });
  setup.close();
  const errors: unknown[] = [];
  await race(SESSIONS, WRITES, 'session-memory', async (agent, replica, s, n) => {
    const reply = (await agent.call({ action: 'add_interaction', session_id: sid(s), role: 'user', content: `r${replica}-${n}` })) as { status?: string };
    if (reply.status !== 'success') errors.push({ replica, session: sid(s), n, reply });
  });
  await drained(proxies, 30_000);

  // Each failure named (21 of 1,200 once in CI, their replies not kept then).
  expect(errors.length, JSON.stringify(errors.slice(0, 5))).toBe(0);
  // Without the lock, legacy applied the two agents' writes in one order and the orchestrator got them in the order
  // their intents were stored: 17 of 20 sessions differed.
  for (let s = 0; s < SESSIONS; s++) {
    const legacy = legacyContents(sims, sid(s));
    expect(legacy, sid(s)).toHaveLength(2 * WRITES);
    expect(newRecords(sims, sid(s)).contents, sid(s)).toEqual(legacy);
  }
}, 120_000);

it("keeps one order of a user's memories on both sides when two agents add them at once, one through each replica", async () => {
  const [sims, proxies] = [stack.sims(), stack.proxies()];
  const USERS = 10;
  const WRITES = 20;
  await race(USERS, WRITES, JARVIS, async (agent, replica, u, n) => {
    expect(await agent.call({ action: 'add_memory', user_id: `racer-${u}`, memory: { replica, n } })).toEqual({ status: 'ok' });
  });
  await drained(proxies, 30_000);
  for (let u = 0; u < USERS; u++) {
    const request = { action: 'get_memories', user_id: `racer-${u}` };
    const legacy = memoriesOf(sims.models[JARVIS].handle(request));
    expect(legacy, `racer-${u}`).toHaveLength(2 * WRITES);
    const fresh = memoriesOf(JSON.parse(pyDumps(await proxies[0]!.runner.translators[JARVIS]!.handle(request, { createMissing: false }))));
    expect(fresh, `racer-${u}`).toEqual(legacy);
  }
}, 120_000);

it("fails a write unsent, in the agent's protocol, while another replica holds its key past the wait; then writes it", async () => {
  const [sims, url] = [stack.sims(), stack.url()];
  const impatient = await startProxy(configFor(sims, url, { store: { keyLockWaitMs: 500 } }), { flags: stack.flags() });
  const agent = new ReqClient(impatient.fronts['session-memory']!, 10_000);
  // Held as a replica stopped in the middle of a write would hold it.
  const stopped = new PgKeyLocks(url);
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const holding = new Promise<void>((r) => (entered = r));
  try {
    expect(await agent.call({ action: 'create_session', session_id: 'held', user_id: 'u' })).toMatchObject({ status: 'success' });
    const held = stopped.writeOrder.hold('session-memory', 'held', () => (entered(), released));
    await holding;
    expect(await agent.call({ action: 'add_interaction', session_id: 'held', role: 'user', content: 'waits its turn' })).toEqual({
      status: 'error',
      message: 'memshift: session-memory backend saturated (state store key lock): session-memory key "held" is held by another replica (waited 500 ms)',
      request_id: null,
    });
    release();
    await held;
    expect(await agent.call({ action: 'add_interaction', session_id: 'held', role: 'user', content: 'its turn' })).toMatchObject({ status: 'success' });
    await drained([impatient], 30_000);
    expect(legacyContents(sims, 'held')).toEqual(['its turn']);
    expect(newRecords(sims, 'held').contents).toEqual(['its turn']);
  } finally {
    release();
    agent.close();
    await stopped.close();
    await impatient.close();
  }
}, 60_000);
