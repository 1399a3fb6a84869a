/**
 * The guard trips while the state store is away (a TCP relay in front of PostgreSQL, cut or frozen): an orchestrator
 * failing and memshift's store with it, as when both live on one PostgreSQL server. The rollback holds at once; the
 * chat channel hears of it then, not only once the store answers; and the event is stored once the store is back (the
 * same event however many attempts landed), when another replica, whose store never failed, follows it. A trip a
 * person resumed before its event landed is let go of for the fleet too, by a resume the report does not count as a
 * person's.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { flagName } from '../../src/flags/names.js';
import { serviceSnapshot } from '../../src/flags/source.js';
import { useRelayedStack } from '../outbox/relayed.js';
import { startSlackLike, type SlackLike } from '../support/slack-like.js';
import { ReqClient } from '../support/zmq-client.js';

const S = 'session-memory' as const;
const receivers = { cut: await startSlackLike(), frozen: await startSlackLike(), resumed: await startSlackLike() };
afterAll(async () => {
  for (const r of Object.values(receivers)) await r.close();
});

type Stack = ReturnType<typeof useRelayedStack>;

/** A stack whose relayed replica posts to `slack`; the direct one is another replica whose store never fails. */
const stackFor = (slack: SlackLike): Stack =>
  useRelayedStack(['new-primary'], { direct: true, config: { guard: { errorRate: { threshold: 0.01, minSamples: 20 }, webhooks: [slack.url] } } });

/** Sessions made while everything answers; then the store cut or frozen and the orchestrator failing until the guard trips. */
async function tripAway(stack: Stack, how: 'cut' | 'frozen'): Promise<void> {
  const [sims, away, relay] = [stack.sims(), stack.proxy(), stack.relay()];
  const agent = new ReqClient(away.fronts[S]!, 10_000);
  try {
    for (let i = 0; i < 30; i++) await agent.call({ action: 'add_interaction', session_id: `away-${i}`, role: 'user', content: `hello ${i}` });
    await away.runner.secondary.drain();
    expect(serviceSnapshot(away.flags.snapshot(), S).stage).toBe('new-primary');
    if (how === 'cut') relay.cut();
    else relay.freeze();
    await sims.applyFaults('orchestrator', { errorRate: 1 });
    for (let i = 0; i < 30 && !away.guard!.tripped().length; i++) await agent.call({ action: 'get_context', session_id: `away-${i}` });
  } finally {
    agent.close();
  }
  expect(away.guard!.tripped()).toEqual([S]);
  // Held here at once: reads back on legacy.
  expect(away.flags.localOverrides()).toMatchObject({ [flagName(S, 'new-primary')]: false });
}

describe.each(['cut', 'frozen'] as const)('the store %s', (how) => {
  const slack = receivers[how];
  const stack = stackFor(slack);

  it('a trip with the store away holds at once, is told to the channel at once, and is stored and followed once the store is back', async () => {
    const [sims, away, other, relay] = [stack.sims(), stack.proxy(), stack.direct(), stack.relay()];
    await tripAway(stack, how);
    const trippedAt = Date.now();

    // The channel hears of it while the store is still away (before: nothing was posted until an event was stored).
    await expect.poll(() => slack.posted.length, { timeout: 30_000 }).toBe(1);
    expect(slack.posted[0]!.event.id).toBeNull();
    expect(slack.posted[0]!.text).toMatch(
      new RegExp(`^memshift rolled ${S} back to legacy reads at new-primary .*Not stored yet: the state store did not answer`),
    );
    // The other replica's store answers, but nothing of this trip is in it: it still serves new-primary.
    expect(await other.guardEvents.list({ service: S })).toEqual([]);
    expect(other.guard!.tripped()).toEqual([]);

    await sims.applyFaults('orchestrator', { errorRate: 0 });
    if (how === 'cut') relay.restore();
    else relay.thaw();
    // Stored once the store is back, with the time the guard acted; then followed by the other replica.
    await expect.poll(async () => (await other.guardEvents.list({ service: S })).length, { timeout: 60_000 }).toBe(1);
    const [event] = await other.guardEvents.list({ service: S });
    expect(Date.parse(event!.at)).toBeLessThanOrEqual(trippedAt);
    expect(event!.replica).toBe(slack.posted[0]!.event.replica);
    await expect.poll(() => other.guard!.tripped(), { timeout: 10_000 }).toEqual([S]);
    await expect.poll(() => away.guard!.status(S)!.lastEvent?.id, { timeout: 10_000 }).toBe(event!.id);
    // Told once: storing it late posts nothing more.
    expect(slack.posted).toHaveLength(1);
  }, 120_000);
});

describe('the store frozen, the trip resumed before it answers', () => {
  const stack = stackFor(receivers.resumed);

  it('the trip stored after the resume is let go of too: no replica, nor one started later, follows it', async () => {
    const [sims, away, other, relay] = [stack.sims(), stack.proxy(), stack.direct(), stack.relay()];
    await tripAway(stack, 'frozen');
    // A person resumes it while the trip's insert still waits on the frozen store.
    expect(away.guard!.resume(S)).toBe(true);
    await sims.applyFaults('orchestrator', { errorRate: 0 });
    relay.thaw();

    const events = other.guardEvents;
    await expect.poll(async () => (await events.list({ service: S })).filter((e) => e.kind !== 'resume').length, { timeout: 60_000 }).toBe(1);
    const [trip] = (await events.list({ service: S })).filter((e) => e.kind !== 'resume');
    // A resume covering the trip lands too (before: the person's covered only the events known when it was made).
    await expect
      .poll(async () => (await events.list({ service: S })).some((e) => e.kind === 'resume' && e.resumes! >= trip!.id), { timeout: 30_000 })
      .toBe(true);
    expect((await events.inForceUpTo(await events.lastId())).filter((e) => e.service === S)).toEqual([]);
    await expect.poll(() => other.guard!.tripped(), { timeout: 30_000 }).toEqual([]);
    expect(away.guard!.tripped()).toEqual([]);
    // memshift's covering resume is told apart from the person's: the report's day shows the trip and one resume.
    await expect.poll(async () => (await events.list({ service: S })).filter((e) => e.covering).length, { timeout: 30_000 }).toBe(1);
    const day = await events.between(S, new Date(Date.now() - 3_600_000), new Date(Date.now() + 60_000));
    expect(day.map((e) => e.kind)).toEqual(['rollback', 'resume']);
  }, 120_000);
});
