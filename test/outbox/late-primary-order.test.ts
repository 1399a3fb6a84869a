/**
 * A key's write that timed out on its hung primary, and the key's next write made through another replica: a REP
 * service takes its connections' requests in turn, so once it resumes the next write, alone on its replica's
 * connection, could be applied ahead of the first, queued behind other requests on its own. The replica that sent the
 * first keeps the key's write-order lock until that call is answered late (or for a bound), so the next write waits
 * for it and both sides hold the key's writes in one order (chaos seed 832: an add_memory applied on the orchestrator
 * after the agent's clear_memories, and copied to legacy before it).
 */
import { describe, expect, it } from 'vitest';
import type { Edits } from '../../src/flags/edit.js';
import type { SimTarget } from '../../src/tools/sim/index.js';
import { useReplicas } from '../support/replicas.js';
import { ReqClient } from '../support/zmq-client.js';
import { legacyRecords, newRecords } from '../hangs/records.js';
import { JARVIS_DUAL_WRITE, JARVIS_NEW_PRIMARY } from './unknown-support.js';
import { openRows, sleep, waitUntil } from './support.js';

const JARVIS = 'jarvis-memory' as const;
const KEY = 'late-order';
const OTHERS = ['late-order-x1', 'late-order-x2', 'late-order-x3'];
const add = (user: string, record: string) => ({ action: 'add_memory', user_id: user, memory: { record } });

describe.each([
  ['orchestrator primary', JARVIS_NEW_PRIMARY, 'orchestrator'],
  ['legacy primary', JARVIS_DUAL_WRITE, JARVIS],
] as [string, Edits, SimTarget][])('%s', (_name, edits, primary) => {
  // Intents given 5 s: on a busy machine an insert slower than the default 500 ms is refused while another replica is live.
  const stack = useReplicas(edits, 2, { outbox: { intentTimeoutMs: 5_000 } });

  /** One request through replica `i`'s jarvis-memory front, on a REQ socket of its own. */
  async function call(i: number, request: unknown): Promise<unknown> {
    const agent = new ReqClient(stack.proxies()[i]!.fronts[JARVIS]!, 20_000);
    try {
      return await agent.call(request);
    } finally {
      agent.close();
    }
  }

  it("applies a key's next write, made through another replica, after its write that timed out on the hung primary", async () => {
    const [sims, url] = [stack.sims(), stack.url()];
    // Every user's orchestrator session made, so that each request below is one call queued at the primary.
    for (const user of [KEY, ...OTHERS]) expect(await call(0, add(user, `${user} first`))).toMatchObject({ status: 'ok' });
    await waitUntil(async () => (await openRows(url)).open === 0, 30_000, 'first writes copied');

    await sims.applyFaults(primary, { hang: true });
    let ahead: Promise<unknown>[] = [];
    let cleared: Promise<unknown> | undefined;
    try {
      // Replica 0's connection: reads of other users first (one in the primary's hands, the rest queued), then the write.
      ahead = OTHERS.map((user) => call(0, { action: 'get_memories', user_id: user }).catch(() => undefined));
      await sleep(300);
      expect(await call(0, add(KEY, 'late'))).toMatchObject({ status: 'error' });
      // The agent, told of the timeout, clears its memories through the other replica.
      cleared = call(1, { action: 'clear_memories', user_id: KEY });
      await sleep(500);
    } finally {
      await sims.applyFaults(primary, { hang: false });
    }
    expect(await cleared).toMatchObject({ status: 'ok' });
    await Promise.all(ahead);
    await waitUntil(async () => (await openRows(url)).open === 0, 60_000, 'outbox drained');
    const agent = { service: JARVIS, key: KEY };
    // The clear came after the write in the agent's order: neither side keeps it (before, the primary did).
    expect({ legacy: legacyRecords(sims, agent), fresh: newRecords(sims, agent) }).toEqual({ legacy: [], fresh: [] });
  }, 90_000);
});
