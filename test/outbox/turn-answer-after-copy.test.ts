/**
 * Two replicas at jarvis-memory's dual-write, one of which turns to new-primary while the other has not yet (it reads
 * the others' settings once ten minutes here, so it does not learn of the turn; by default, the moments before its next
 * read). A write through the turned replica lands on the orchestrator at once and its copy is held up on its way to
 * legacy for half a second: its agent is answered once the copy has landed (outbox.turnCopyWaitMs, here 20 s to be sure
 * on a busy machine), so a read back through the other replica, from legacy, has it. Before: the agent was answered at
 * once and the read back missed its acknowledged write (chaos seed 888, by 30 ms).
 */
import { expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { SLOW_RETRY, useOwnFlagsReplicas } from '../support/own-flags-replicas.js';
import { ReqClient } from '../support/zmq-client.js';
import { queryOnce, waitUntil } from './support.js';
import { serviceSnapshot } from '../../src/flags/source.js';
import { JARVIS_DUAL_WRITE, JARVIS_NEW_PRIMARY, memoriesOf } from './unknown-support.js';

const J = 'jarvis-memory';
const USER = 'answer-after-copy';
/** How long the copy is held up on its way to legacy. */
const HELD_MS = 500;
const TOKEN = 'answer-after-copy-token';
const stack = useOwnFlagsReplicas();

type Fleet = { live: number; disagreements: string[] };
const fleetOf = async (httpUrl: string): Promise<Fleet> =>
  ((await (await fetch(`${httpUrl}/admin/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { fleet: Fleet }).fleet;

it('answers a write through a replica that turned once its copy landed, so a replica not yet turned reads it back', async () => {
  const [sims, url] = [stack.sims(), stack.url()];
  const legacy = await stack.relayTo(sims.endpoints[J]);
  // Started first, it reads the others' settings at its start only, before the other replica publishes.
  const unturned = (await stack.start(JARVIS_DUAL_WRITE, { admin: { token: TOKEN }, outbox: { ...SLOW_RETRY, fleetEveryMs: 600_000 } })).proxy;
  const { proxy: turned, flags } = await stack.start(JARVIS_DUAL_WRITE, {
    admin: { token: TOKEN },
    outbox: { ...SLOW_RETRY, fleetEveryMs: 250, turnCopyWaitMs: 20_000 },
    services: { [J]: { legacy: { endpoint: legacy.endpoint, timeoutMs: 10_000 } } },
  });
  const [t, u] = [new ReqClient(turned.fronts[J]!, 30_000), new ReqClient(unturned.fronts[J]!, 30_000)];
  const add = (n: number) => t.call({ action: 'add_memory', user_id: USER, memory: { n } });
  const open = `SELECT 1 FROM outbox WHERE key = '${USER}' AND open`;
  try {
    expect(await add(0)).toMatchObject({ status: 'ok' });
    await waitUntil(async () => (await queryOnce(url, open)).length === 0, 20_000, 'the first copied');
    expect(memoriesOf(await u.call({ action: 'get_memories', user_id: USER }))).toEqual([{ n: 0 }]);
    await flags.write(JARVIS_NEW_PRIMARY);
    await waitUntil(() => serviceSnapshot(turned.flags.snapshot(), J).stage === 'new-primary', 20_000, 'turned');
    // The unturned replica's watch of each side from its start ends at its next poll finding nothing on its way.
    await sleep(1_500);
    legacy.relay.freeze();
    const thawed = sleep(HELD_MS).then(() => legacy.relay.thaw());
    expect(await add(1)).toMatchObject({ status: 'ok' });
    // Read back at once, through the replica that reads legacy first.
    expect(memoriesOf(await u.call({ action: 'get_memories', user_id: USER }))).toEqual([{ n: 0 }, { n: 1 }]);
    await thawed;
    // The premises: the unturned replica knows of no other at another stage (it would ask the store about each key
    // else), and the write went to the orchestrator first (its copy to legacy).
    expect(await fleetOf(unturned.httpUrl)).toEqual({ live: 1, disagreements: [] });
    expect(await queryOnce(url, `SELECT side FROM outbox WHERE key = '${USER}' ORDER BY seq`)).toEqual([{ side: 'new' }, { side: 'legacy' }]);
  } finally {
    legacy.relay.thaw();
    t.close();
    u.close();
  }
}, 90_000);
