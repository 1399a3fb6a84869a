/**
 * Two replicas about a turn of session-memory: one at new-primary, the other not yet turned (at dual-write, legacy
 * first), which has not yet learnt from the store that the first serves another stage. A write through the second to a
 * key whose copy, from the first, is still on its way to legacy waits for it there (its intent's insert tells), so
 * legacy takes the agent's writes in the order they were acknowledged.
 */
import { expect, it } from 'vitest';
import { flagName, type FlagKind } from '../../src/flags/names.js';
import { useOwnFlagsReplicas } from '../support/own-flags-replicas.js';
import { ReqClient } from '../support/zmq-client.js';
import { legacyContents, newRecords, openRows, queryOnce, sleep, waitUntil } from './support.js';

const S = 'session-memory';
const stack = useOwnFlagsReplicas();

/** A replica with `on` flags, publishing itself and reading the others every `fleetEveryMs`. */
const replica = async (fleetEveryMs: number, ...on: FlagKind[]) =>
  (
    await stack.start(Object.fromEntries(on.map((f) => [flagName(S, f), { enabled: true }])), {
      outbox: { baseBackoffMs: 1_000, maxBackoffMs: 1_000, fleetEveryMs },
    })
  ).proxy;

it("makes a not-yet-turned replica's write after the copy another replica's write has on its way to legacy", async () => {
  const [sims, url] = [stack.sims(), stack.url()];
  // The replica not yet turned reads the others as it starts, before the turned one is there, and not again: it does
  // not learn from the store that another serves another stage (FleetSettings.stageApart), as before its next read.
  const unturned = await replica(600_000, 'dual-write');
  const turned = await replica(500, 'dual-write', 'new-primary');
  const [a, b] = [new ReqClient(turned.fronts[S]!, 10_000), new ReqClient(unturned.fronts[S]!, 10_000)];
  try {
    expect(await b.call({ action: 'create_session', session_id: 'unseen', user_id: 'u' })).toMatchObject({ status: 'success' });
    await waitUntil(async () => (await openRows(url)).open === 0, 20_000, 'outbox drained');
    // Long enough for the replicas' watches of a side (kept from their start until nothing is queued towards it) to
    // end: the second replica then asks nothing before its writes, as one that has not seen a turn.
    await sleep(2_000);
    // The first replica's write lands on the orchestrator; its copy cannot reach legacy, and waits its backoff.
    await sims.down(S);
    expect(await a.call({ action: 'add_interaction', session_id: 'unseen', role: 'user', content: 'first' })).toMatchObject({ status: 'success' });
    const failedOnce = "SELECT 1 FROM outbox WHERE side = 'legacy' AND status = 'pending' AND last_error IS NOT NULL";
    await waitUntil(async () => (await queryOnce(url, failedOnce)).length === 1, 20_000, 'the copy failed once');
    await sims.applyFaults(S, { down: false });
    const second = (await b.call({ action: 'add_interaction', session_id: 'unseen', role: 'user', content: 'second' })) as { status: string; message?: string };
    await waitUntil(async () => (await openRows(url)).open === 0, 20_000, 'outbox drained');
    // Before, the second write went to legacy at once, ahead of the first one's copy: legacy held second, first.
    if (second.status === 'success') {
      expect(legacyContents(sims, 'unseen')).toEqual(['first', 'second']);
      expect(newRecords(sims, 'unseen').contents).toEqual(['first', 'second']);
    } else {
      // The copy not landed within the write's wait (a busy host): refused unsent (outbox.whenCopiesLate: refuse).
      expect(second.message).toMatch(/still on their way/);
      expect(legacyContents(sims, 'unseen')).toEqual(['first']);
    }
  } finally {
    a.close();
    b.close();
  }
}, 60_000);
