/**
 * The order memshift cannot keep while it serves writes the store has not taken, made to happen: a replica whose
 * store stops answering holds a write in memory (its primary applied it, the agent was answered), and the agent's
 * next write of the same session goes through another replica, whose store answers: on the orchestrator it lands
 * first. When the store answers again the replica that held the write says so: the key is named in its log and
 * counted in its outbox stats. With `outbox.whenStoreAway: refuse`, or its default `hold-alone` once the replica knows
 * of the other, the write is refused unsent instead, and the order holds.
 */
import { describe, expect, it } from 'vitest';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { useRelayedStack } from './relayed.js';
import { addInteraction, describeOpenRows, legacyContents, newRecords, openRows, sendJson, waitUntil } from './support.js';

/**
 * The session made through `front` with its first write, landed on new and finished in the outbox (`url`): a
 * write still open there when the store freezes would keep the key's next writes from every replica.
 */
async function begin(sims: SimHandle, url: string, front: string, sid: string): Promise<void> {
  expect(await sendJson(front, { action: 'create_session', session_id: sid, user_id: 'u' })).toMatchObject({ status: 'success' });
  expect(await addInteraction(front, sid, 'one')).toMatchObject({ status: 'success' });
  // Run 284 (CI, two cores busy) ran out of this wait once, not seen since: what new held, and the outbox's open rows.
  const left = async () => `new: ${JSON.stringify(newRecords(sims, sid))}\nopen rows:\n${await describeOpenRows(url)}`;
  await waitUntil(() => newRecords(sims, sid).contents.length === 1, 30_000, 'the first write on new', left);
  await waitUntil(async () => (await openRows(url)).open === 0, 20_000, 'the first write finished in the outbox');
}

describe('holding writes while the store is away', () => {
  const stack = useRelayedStack([], { direct: true, config: { outbox: { whenStoreAway: 'hold' } } });

  it('counts a held write that another replica overtook on the secondary', async () => {
    const [sims, held, other, url, relay] = [stack.sims(), stack.proxy(), stack.direct(), stack.url(), stack.relay()];
    const [viaHeld, viaOther] = [held.fronts['session-memory']!, other.fronts['session-memory']!];
    const sid = 'overtaken';
    await begin(sims, url, viaHeld, sid);
    const before = await held.runner.secondary.stats();

    relay.freeze();
    // Past outbox.intentTimeoutMs the replica takes the store for down: the write is held in memory, legacy applies it.
    expect(await addInteraction(viaHeld, sid, 'two')).toMatchObject({ status: 'success' });
    expect(await addInteraction(viaOther, sid, 'three')).toMatchObject({ status: 'success' });
    await waitUntil(() => newRecords(sims, sid).contents.length === 2, 20_000, "the other replica's write on new");
    relay.thaw();
    await waitUntil(async () => (await held.runner.secondary.stats()).memoryQueued === 0, 20_000, 'the held write stored');
    await held.runner.secondary.drain();
    await waitUntil(async () => (await openRows(url)).open === 0, 20_000, 'outbox drained');

    expect(legacyContents(sims, sid)).toEqual(['one', 'two', 'three']);
    // The limit itself (README "What it cannot order"): the orchestrator holds them in another order.
    expect(newRecords(sims, sid).contents).toEqual(['one', 'three', 'two']);
    expect(before.reordered).toBe(0);
    expect((await held.runner.secondary.stats()).reordered).toBe(1);
  }, 120_000);
});

const TOKEN = 'overtaken-token';
// Each replica publishes itself in the store every outbox.fleetEveryMs: here often, so that each soon knows of the other.
describe.each([
  ['outbox.whenStoreAway: refuse', { whenStoreAway: 'refuse', fleetEveryMs: 200 }, 'no write is served that is not recorded first'],
  ['hold-alone, the default, with another replica live', { fleetEveryMs: 200 }, 'another replica is live and may write its key meanwhile'],
])('refusing writes while the store is away (%s)', (_, outbox, reason) => {
  const stack = useRelayedStack([], { direct: true, config: { outbox, admin: { token: TOKEN } } });

  it("refuses the write unsent, in the agent's protocol, and the order holds on both sides", async () => {
    const [sims, refusing, other, url, relay] = [stack.sims(), stack.proxy(), stack.direct(), stack.url(), stack.relay()];
    const [viaRefusing, viaOther] = [refusing.fronts['session-memory']!, other.fronts['session-memory']!];
    const sid = 'refused';
    await begin(sims, url, viaRefusing, sid);
    const status = () => fetch(`${refusing.httpUrl}/admin/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const live = async () => ((await (await status()).json()) as { fleet: { live: number } }).fleet.live;
    await waitUntil(async () => (await live()) === 2, 20_000, 'the other replica known');

    relay.freeze();
    const refused = await addInteraction(viaRefusing, sid, 'two');
    expect(refused).toMatchObject({ status: 'error', message: expect.stringContaining(`write refused unsent: ${reason}`) });
    expect(await addInteraction(viaOther, sid, 'three')).toMatchObject({ status: 'success' });
    await waitUntil(() => newRecords(sims, sid).contents.length === 2, 20_000, "the other replica's write on new");
    relay.thaw();
    await waitUntil(async () => (await refusing.runner.secondary.stats()).storeUp, 20_000, 'the store taken for up again');
    // The agent sends its refused write again, once the store answers.
    expect(await addInteraction(viaRefusing, sid, 'two')).toMatchObject({ status: 'success' });
    await refusing.runner.secondary.drain();
    await waitUntil(async () => (await openRows(url)).open === 0, 20_000, 'outbox drained');

    expect(legacyContents(sims, sid)).toEqual(['one', 'three', 'two']);
    expect(newRecords(sims, sid).contents).toEqual(['one', 'three', 'two']);
    expect((await refusing.runner.secondary.stats()).reordered).toBe(0);
  }, 120_000);
});
