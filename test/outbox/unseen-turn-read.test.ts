/**
 * Two replicas about jarvis-memory's turn: one at new-primary, the other not yet turned (at dual-write, legacy first,
 * as for up to a flags refresh). A write through the first lands on the orchestrator and its copy cannot reach legacy;
 * a read of the key through the second, once it knows from the store that the first serves another stage, is served by
 * the orchestrator, which has the write, rather than by legacy, which lacks it.
 */
import { expect, it } from 'vitest';
import { SLOW_RETRY, useOwnFlagsReplicas } from '../support/own-flags-replicas.js';
import { ReqClient, requestOnce } from '../support/zmq-client.js';
import { queryOnce, waitUntil } from './support.js';
import { JARVIS_DUAL_WRITE, JARVIS_NEW_PRIMARY, memoriesOf } from './unknown-support.js';

const J = 'jarvis-memory';
const USER = 'unseen-read';
const stack = useOwnFlagsReplicas();

it('serves a read through a replica not yet turned from the side ahead, once it knows another replica serves another stage', async () => {
  const [sims, url] = [stack.sims(), stack.url()];
  const legacy = await stack.relayTo(sims.endpoints[J]);
  const unturned = (await stack.start(JARVIS_DUAL_WRITE, { outbox: SLOW_RETRY })).proxy;
  // Its legacy through the relay: cut, the copies of its writes stay on their way there.
  const turned = (await stack.start(JARVIS_NEW_PRIMARY, { outbox: SLOW_RETRY, services: { [J]: { legacy: { endpoint: legacy.endpoint, timeoutMs: 2000 } } } }))
    .proxy;
  const [t, u] = [new ReqClient(turned.fronts[J]!, 20_000), new ReqClient(unturned.fronts[J]!, 20_000)];
  const add = (n: number) => t.call({ action: 'add_memory', user_id: USER, memory: { n } });
  const open = `SELECT 1 FROM outbox WHERE key = '${USER}' AND side = 'legacy' AND open`;
  try {
    expect(await add(0)).toMatchObject({ status: 'ok' });
    await waitUntil(async () => (await queryOnce(url, open)).length === 0, 20_000, 'the first copied');
    expect(memoriesOf(await u.call({ action: 'get_memories', user_id: USER }))).toEqual([{ n: 0 }]);
    legacy.relay.cut();
    expect(await add(1)).toMatchObject({ status: 'ok' });
    await waitUntil(async () => (await queryOnce(url, open)).length === 1, 20_000, "the second's copy stored");
    // Before: served by legacy, without the acknowledged write, for as long as its copy is on its way.
    let last: unknown;
    const read = async () => JSON.stringify((last = memoriesOf(await u.call({ action: 'get_memories', user_id: USER }))));
    await waitUntil(
      async () => (await read()) === JSON.stringify([{ n: 0 }, { n: 1 }]),
      20_000,
      'the read has the acknowledged write',
      async () => `last read ${JSON.stringify(last)}`,
    );
    // The premise held: legacy lacks it still.
    const onLegacy = JSON.parse((await requestOnce(sims.endpoints[J], { action: 'get_memories', user_id: USER }, 10_000)).toString('utf8')) as unknown;
    expect(memoriesOf(onLegacy)).toEqual([{ n: 0 }]);
    expect(await queryOnce(url, open)).toHaveLength(1);
  } finally {
    legacy.relay.restore();
    t.close();
    u.close();
  }
}, 90_000);
