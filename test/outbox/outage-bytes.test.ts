/**
 * The writes held in memory through a store outage are bounded in bytes as well as in count: 10,000 writes near
 * zmq.maxFrameBytes (1 MiB) would outgrow a pod's memory limit, and an out-of-memory kill loses every write held.
 */
import { expect, it } from 'vitest';
import { requestOnce } from '../support/zmq-client.js';
import { useRelayedStack } from './relayed.js';
import { legacyContents, newRecords, openRows, waitUntil } from './support.js';

const CAP = 2_000_000;
const stack = useRelayedStack([], { config: { outbox: { memoryQueueMaxBytes: CAP } } });

it('holds an outage’s writes up to outbox.memoryQueueMaxBytes; the writes past it are counted lost, the rest stored once the store returns', async () => {
  const [sims, proxy, url, relay] = [stack.sims(), stack.proxy(), stack.url(), stack.relay()];
  const front = proxy.fronts['session-memory']!;
  const call = async (request: Record<string, unknown>) => JSON.parse((await requestOnce(front, request, 15_000)).toString('utf8')) as { status: string };
  expect(await call({ action: 'create_session', session_id: 'bytes', user_id: 'user-bytes' })).toMatchObject({ status: 'success' });
  await waitUntil(async () => (await openRows(url)).open === 0, 30_000, 'session created on both sides');
  relay.cut();
  // Ten writes of about 450 kB: four fit under 2,000,000 bytes, the fifth would not.
  const big = 'x'.repeat(450_000);
  const contents = Array.from({ length: 10 }, (_, i) => `${i}:${big}`);
  for (const content of contents)
    expect(await call({ action: 'add_interaction', session_id: 'bytes', role: 'user', content })).toMatchObject({ status: 'success' });
  const held = await proxy.runner.secondary.stats();
  expect(held).toMatchObject({ storeUp: false, memoryQueued: 4, overflowed: 6 });
  expect(held.memoryQueuedBytes).toBeGreaterThan(4 * 450_000);
  expect(held.memoryQueuedBytes).toBeLessThanOrEqual(CAP);

  relay.restore();
  await waitUntil(async () => (await proxy.runner.secondary.stats()).memoryQueued === 0, 30_000, 'held writes stored');
  await proxy.runner.secondary.drain();
  await waitUntil(async () => (await openRows(url)).open === 0, 30_000, 'outbox drained');
  expect(await proxy.runner.secondary.stats()).toMatchObject({ storeUp: true, memoryQueued: 0, memoryQueuedBytes: 0 });
  // The agent's side has all ten; the orchestrator the four held (the six lost are for a reconciliation to repair).
  expect(legacyContents(sims, 'bytes')).toEqual(contents);
  expect(newRecords(sims, 'bytes').contents).toEqual(contents.slice(0, 4));
}, 90_000);
