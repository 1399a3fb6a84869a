/**
 * The outbox's per-key look-ups a turn's move makes (src/plan/turned.ts). A write whose intent the outbox holds in
 * memory (the store silent past outbox.intentTimeoutMs) has not landed on the secondary: the outbox says so from what
 * it holds, where before it asked the store, which had no row yet. A copy on its way (its primary applied it) is told,
 * from what this process knows while its attempt is under way, then from the store.
 */
import { expect, it } from 'vitest';
import { requestOnce } from '../support/zmq-client.js';
import { useRelayedStack } from './relayed.js';
import { waitUntil } from './support.js';

const stack = useRelayedStack();
const S = 'session-memory' as const;

const send = async (request: Record<string, unknown>) =>
  JSON.parse((await requestOnce(stack.proxy().fronts[S]!, request, 15_000)).toString('utf8')) as { status: string };

it('counts a write held in memory as unlanded for its key while the store is silent, and not once it landed', async () => {
  const [proxy, relay] = [stack.proxy(), stack.relay()];
  for (const id of ['held-1', 'held-2']) expect(await send({ action: 'create_session', session_id: id, user_id: id })).toMatchObject({ status: 'success' });
  await waitUntil(async () => (await proxy.runner.secondary.stats()).depth === 0, 20_000, 'sessions copied');
  relay.freeze();
  try {
    expect(await send({ action: 'add_interaction', session_id: 'held-1', role: 'user', content: 'held' })).toMatchObject({ status: 'success' });
    expect((await proxy.runner.secondary.stats()).memoryQueued).toBe(1);
    expect(await proxy.runner.secondary.unlanded(S, 'held-1', 'new', false)).toBe(true);
    // Another key: the store cannot tell, and the caller said what that counts as.
    expect(await proxy.runner.secondary.unlanded(S, 'held-2', 'new', false)).toBe(false);
    expect(await proxy.runner.secondary.unlanded(S, 'held-1', 'legacy', false)).toBe(false);
  } finally {
    relay.thaw();
  }
  await waitUntil(async () => (await proxy.runner.secondary.stats()).depth === 0, 20_000, 'held write stored and copied');
  expect(await proxy.runner.secondary.unlanded(S, 'held-1', 'new', false)).toBe(false);
}, 60_000);

it('tells a copy on its way to the orchestrator, its primary having applied it, until it lands', async () => {
  const [proxy, sims] = [stack.proxy(), stack.sims()];
  await sims.applyFaults('orchestrator', { hang: true });
  try {
    const retries = (await proxy.runner.secondary.stats()).retries;
    expect(await send({ action: 'add_interaction', session_id: 'held-2', role: 'user', content: 'on its way' })).toMatchObject({ status: 'success' });
    // Its attempt under way (2 s on the hung orchestrator): only this process knows its primary applied it, not the store.
    expect(await proxy.runner.secondary.copying(S, 'held-2', 'new')).toBe(true);
    // Given back for a retry: the store knows it now.
    await waitUntil(async () => (await proxy.runner.secondary.stats()).retries > retries, 20_000, 'attempt given back');
    expect(await proxy.runner.secondary.copying(S, 'held-2', 'new')).toBe(true);
    expect(await proxy.runner.secondary.copying(S, 'held-2', 'legacy')).toBe(false);
    expect(await proxy.runner.secondary.copying(S, 'held-1', 'new')).toBe(false);
  } finally {
    await sims.applyFaults('orchestrator', { hang: false });
  }
  await expect.poll(() => proxy.runner.secondary.copying(S, 'held-2', 'new'), { timeout: 30_000 }).toBe(false);
  expect(await proxy.runner.secondary.unlanded(S, 'held-2', 'new')).toBe(false);
}, 60_000);
