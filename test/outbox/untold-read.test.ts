/**
 * A read just after jarvis-memory's turn to new-primary, of a key another replica last wrote (legacy first, its copy
 * to the orchestrator not landed: that replica's orchestrator is out of reach), while the store gives the reading
 * replica no answer: whether that copy landed cannot be told there, so the read is refused in the agent's protocol
 * rather than answered by the orchestrator without the acknowledged write (chaos seed 272: the store slow under load).
 * With the store answering, the same read is served by legacy, which has it.
 */
import { expect, it } from 'vitest';
import type { Edits } from '../../src/flags/edit.js';
import { flagName } from '../../src/flags/names.js';
import { serviceSnapshot } from '../../src/flags/source.js';
import { SLOW_RETRY, useOwnFlagsReplicas } from '../support/own-flags-replicas.js';
import { ReqClient } from '../support/zmq-client.js';
import { queryOnce, waitUntil } from './support.js';
import { JARVIS_DUAL_WRITE, JARVIS_NEW_PRIMARY, memoriesOf } from './unknown-support.js';

const J = 'jarvis-memory';
const USER = 'untold';
const SHADOWED: Edits = { ...JARVIS_DUAL_WRITE, [flagName(J, 'shadow-read')]: { enabled: true, rollout: 100 } };
const stack = useOwnFlagsReplicas();

it("refuses a read about a turn that cannot learn whether another replica's copy of the key landed", async () => {
  const [sims, url] = [stack.sims(), stack.url()];
  const store = await stack.relayToStore();
  const orchestrator = await stack.relayTo(sims.endpoints.orchestrator);
  // The reader starts first: a replica that starts serves once the others know of it, so the reader knows the writer.
  const reader = await stack.start(SHADOWED, { outbox: SLOW_RETRY }, store.url);
  const writer = await stack.start(JARVIS_DUAL_WRITE, { outbox: SLOW_RETRY, orchestrator: { endpoint: orchestrator.endpoint, timeoutMs: 2000 } });
  const [r, w] = [new ReqClient(reader.proxy.fronts[J]!, 20_000), new ReqClient(writer.proxy.fronts[J]!, 20_000)];
  const add = (n: number) => w.call({ action: 'add_memory', user_id: USER, memory: { n } });
  const read = () => r.call({ action: 'get_memories', user_id: USER });
  const open = `SELECT 1 FROM outbox WHERE key = '${USER}' AND side = 'new' AND open`;
  try {
    expect(await add(0)).toMatchObject({ status: 'ok' });
    await waitUntil(async () => (await queryOnce(url, open)).length === 0, 20_000, 'the first copied');
    // The reader serves the service before the turn (one that never did knows of no turn), its shadow read on the
    // orchestrator mapping the user there.
    expect(memoriesOf(await read())).toEqual([{ n: 0 }]);
    // The writer's orchestrator out of reach: the second write's copy stays on its way.
    orchestrator.relay.cut();
    expect(await add(1)).toMatchObject({ status: 'ok' });
    await waitUntil(async () => (await queryOnce(url, open)).length === 1, 20_000, "the second's copy stored");
    await reader.flags.write({ ...SHADOWED, ...JARVIS_NEW_PRIMARY });
    await waitUntil(() => serviceSnapshot(reader.proxy.flags.snapshot(), J).stage === 'new-primary', 20_000, 'reader turned');
    // The store answering: the orchestrator still lacks the write, so legacy serves the read.
    expect(memoriesOf(await read())).toEqual([{ n: 0 }, { n: 1 }]);
    store.relay.freeze();
    const untold = (await read()) as { status?: string; reason?: string };
    store.relay.thaw();
    // Before: the orchestrator's answer, without the acknowledged write ({ status: 'ok', memories: [{ n: 0 }] }).
    expect(untold).toMatchObject({ status: 'error', reason: expect.stringContaining('cannot be told: read refused rather than answered stale') });
    expect(memoriesOf(await read())).toEqual([{ n: 0 }, { n: 1 }]);
    expect(await queryOnce(url, open)).toHaveLength(1);
  } finally {
    store.relay.thaw();
    orchestrator.relay.restore();
    r.close();
    w.close();
  }
}, 90_000);
