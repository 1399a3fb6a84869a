/**
 * Another replica's view of a key's copies (SecondaryWrites.copying, which a write waits on after a turn): a copy whose
 * primary applied it counts while the replica that stored it works on it, though the store hears of its primary only
 * when it lands or is given back; one whose primary's outcome is unknown does not (a hung side would hold every later
 * write of the key for the whole wait), nor once found applied (its agent was told of an error: the chaos probe saw a
 * write moved for such a copy land ahead of acknowledged ones). What a read would miss (SecondaryWrites.lacks) likewise.
 * The replica that stored a copy asks the store too: another may have taken it over and landed it meanwhile.
 */
import { expect, it } from 'vitest';
import { requestOnce } from '../support/zmq-client.js';
import { useRelayedStack } from './relayed.js';
import { queryOnce, waitUntil } from './support.js';

const stack = useRelayedStack([], { direct: true });
const S = 'session-memory' as const;

const send = async (request: Record<string, unknown>) =>
  JSON.parse((await requestOnce(stack.proxy().fronts[S]!, request, 15_000)).toString('utf8')) as { status: string };

/** `session` made and copied, then an interaction acknowledged whose copy waits on the hung orchestrator while `run` runs. */
async function withCopyOnItsWay(session: string, run: () => Promise<void>): Promise<void> {
  const [proxy, sims] = [stack.proxy(), stack.sims()];
  expect(await send({ action: 'create_session', session_id: session, user_id: 'u' })).toMatchObject({ status: 'success' });
  await waitUntil(async () => (await proxy.runner.secondary.stats()).depth === 0, 20_000, 'session copied');
  await sims.applyFaults('orchestrator', { hang: true });
  try {
    expect(await send({ action: 'add_interaction', session_id: session, role: 'user', content: 'on its way' })).toMatchObject({ status: 'success' });
    await run();
  } finally {
    await sims.applyFaults('orchestrator', { hang: false });
  }
}

it("counts another replica's copy whose primary applied it while that replica still sends it", async () => {
  const other = stack.direct();
  await withCopyOnItsWay('elsewhere-1', async () => {
    // Its attempt on the hung orchestrator under way: the store has not heard that legacy applied it.
    expect(await other.runner.secondary.copying(S, 'elsewhere-1', 'new')).toBe(true);
    expect(await other.runner.secondary.lacks(S, 'elsewhere-1', 'new')).toBe(true);
    expect(await other.runner.secondary.copying(S, 'elsewhere-1', 'legacy')).toBe(false);
  });
  await expect.poll(() => other.runner.secondary.copying(S, 'elsewhere-1', 'new'), { timeout: 30_000 }).toBe(false);
  expect(await other.runner.secondary.unlanded(S, 'elsewhere-1', 'new')).toBe(false);
}, 60_000);

it('does not count a write whose primary outcome is unknown, though it has not landed', async () => {
  const [proxy, other, sims] = [stack.proxy(), stack.direct(), stack.sims()];
  expect(await send({ action: 'create_session', session_id: 'elsewhere-2', user_id: 'u' })).toMatchObject({ status: 'success' });
  await waitUntil(async () => (await proxy.runner.secondary.stats()).depth === 0, 20_000, 'session copied');
  await sims.applyFaults(S, { hang: true });
  try {
    // Legacy, the primary, hangs past the leg's timeout: the agent hears an error, the write's outcome is unknown.
    expect(await send({ action: 'add_interaction', session_id: 'elsewhere-2', role: 'user', content: 'unknown' })).not.toMatchObject({ status: 'success' });
    expect(await other.runner.secondary.unlanded(S, 'elsewhere-2', 'new')).toBe(true);
    await expect.poll(() => other.runner.secondary.copying(S, 'elsewhere-2', 'new'), { timeout: 10_000 }).toBe(false);
    expect(await proxy.runner.secondary.copying(S, 'elsewhere-2', 'new')).toBe(false);
    // Nor is it what a read would miss: its agent was told of an error.
    expect(await other.runner.secondary.lacks(S, 'elsewhere-2', 'new')).toBe(false);
    expect(await other.runner.secondary.unlanded(S, 'elsewhere-2', 'new')).toBe(true);
  } finally {
    await sims.applyFaults(S, { hang: false });
  }
  // Looked up once legacy answers: copied (the hung simulator applied it late) or dropped, either way no longer open.
  await waitUntil(async () => !(await other.runner.secondary.unlanded(S, 'elsewhere-2', 'new')), 30_000, 'unknown write resolved');
}, 60_000);

it('does not count a write whose primary outcome was unknown once found applied, while its copy waits on a hung side', async () => {
  const [proxy, other, sims, url] = [stack.proxy(), stack.direct(), stack.sims(), stack.url()];
  expect(await send({ action: 'create_session', session_id: 'elsewhere-3', user_id: 'u' })).toMatchObject({ status: 'success' });
  await waitUntil(async () => (await proxy.runner.secondary.stats()).depth === 0, 20_000, 'session copied');
  await sims.applyFaults(S, { hang: true });
  await sims.applyFaults('orchestrator', { hang: true });
  try {
    expect(await send({ action: 'add_interaction', session_id: 'elsewhere-3', role: 'user', content: 'late' })).not.toMatchObject({ status: 'success' });
    // Legacy applies it late; the look-up finds it there, and its copy waits on the hung orchestrator.
    await sims.applyFaults(S, { hang: false });
    const found = async () => (await queryOnce(url, `SELECT 1 FROM outbox WHERE key = 'elsewhere-3' AND side = 'new' AND open AND primary_ok`)).length === 1;
    await waitUntil(found, 30_000, 'found applied on legacy, not yet copied');
    expect(await other.runner.secondary.unlanded(S, 'elsewhere-3', 'new')).toBe(true);
    // Its agent was told of an error: a later write is neither moved nor held for it.
    expect(await other.runner.secondary.copying(S, 'elsewhere-3', 'new')).toBe(false);
    expect(await proxy.runner.secondary.copying(S, 'elsewhere-3', 'new')).toBe(false);
    expect(await other.runner.secondary.lacks(S, 'elsewhere-3', 'new')).toBe(false);
  } finally {
    await sims.applyFaults(S, { hang: false });
    await sims.applyFaults('orchestrator', { hang: false });
  }
  await waitUntil(async () => !(await other.runner.secondary.unlanded(S, 'elsewhere-3', 'new')), 30_000, 'copied once the orchestrator answers');
}, 90_000);

it('does not count its own copy once the store shows it landed, though its own attempt on it has not ended', async () => {
  const [proxy, url] = [stack.proxy(), stack.url()];
  await withCopyOnItsWay('elsewhere-4', async () => {
    // Its attempt on the hung orchestrator under way.
    expect(await proxy.runner.secondary.copying(S, 'elsewhere-4', 'new')).toBe(true);
    expect(await proxy.runner.secondary.lacks(S, 'elsewhere-4', 'new')).toBe(true);
    // As after a store crash took this replica's hold on it: another replica took the copy over and landed it.
    const landed = await queryOnce(url, `UPDATE outbox SET status = 'done' WHERE key = 'elsewhere-4' AND side = 'new' AND open RETURNING id`);
    expect(landed).toHaveLength(1);
    // Counted still, a write of the key after a turn would be moved to legacy for it, and held up to 2 s, for nothing.
    expect(await proxy.runner.secondary.copying(S, 'elsewhere-4', 'new')).toBe(false);
    expect(await proxy.runner.secondary.lacks(S, 'elsewhere-4', 'new')).toBe(false);
  });
}, 60_000);
