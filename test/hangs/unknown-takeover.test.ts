/**
 * Two memshift processes on one store, ContextualMemoryAgent written first and hung: a replica killed with kill -9 after
 * it recorded a write's outcome there as unknown (its agent told of the timeout) and before the late reply came. The
 * survivor, taking the write over, cannot hear that reply and no read shows an interaction: it parks the copy for
 * reconciliation rather than make it on the orchestrator as if legacy had applied it.
 */
import { expect, it } from 'vitest';
import { ReqClient } from '../support/zmq-client.js';
import { queryOnce } from '../outbox/support.js';
import { legacyRecords, newRecords } from './records.js';
import { openRows, useChildStack, waitUntil } from './support.js';

const LEASE_MS = 120_000;
const CONTEXTUAL = 'contextual-memory';
const {
  sims: simsOf,
  memshift,
  url: urlOf,
} = useChildStack({ stage: 'dual-write', replicas: 2, services: [CONTEXTUAL], extra: [`outbox.leaseMs=${LEASE_MS}`] });

const interaction = (session: string, n: number) => ({ action: 'add_interaction', session_id: session, type: 'user_query', content: `${session} #${n}` });

it("parks a killed replica's write whose outcome on ContextualMemoryAgent it had recorded unknown, rather than copy it", async () => {
  const [sims, url, a] = [simsOf(), urlOf(), memshift(0)];
  const agent = new ReqClient(a.fronts[CONTEXTUAL]!, 10_000);
  const key = { service: CONTEXTUAL, key: 'unknown-killed' } as const;
  const rows = () =>
    queryOnce<{ status: string; primary_unknown: boolean; last_error: string | null }>(
      url,
      'SELECT status, primary_unknown, last_error FROM outbox WHERE service = $1 AND key = $2 ORDER BY seq',
      [CONTEXTUAL, key.key],
    );
  try {
    expect(await agent.call(interaction(key.key, 0))).toBe(true);
    await waitUntil(async () => (await openRows(url)) === 0, 60_000, '#0 copied');
    await sims.applyFaults(CONTEXTUAL, { hang: true });
    // memshift answers the agent an error once legacy's 2 s are up; the write's outcome there is unknown.
    expect(await agent.call(interaction(key.key, 1))).toMatchObject({ status: 'error' });
    await waitUntil(async () => (await rows())[1]?.primary_unknown === true, 30_000, "#1's outcome recorded unknown");
    await a.kill();
    // Well within the lease: the survivor takes the write over once the dead owner's lock is gone, legacy still hung.
    await waitUntil(async () => (await openRows(url)) === 0, LEASE_MS / 2, '#1 settled by the survivor');
    const [, second] = await rows();
    expect(second!.status).toBe('dead');
    expect(second!.last_error).toMatch(/outcome unknown on its primary, and contextual-memory offers no read that shows this write/);
    expect(newRecords(sims, key)).toEqual([`${key.key} #0`]);
  } finally {
    agent.close();
    await sims.applyFaults(CONTEXTUAL, { hang: false });
    await a.restart();
  }
  // Legacy applies it once it wakes: the sides differ by that write until a reconciliation, as its reason says.
  await waitUntil(() => legacyRecords(sims, key).length === 2, 30_000, 'legacy applied #1 late');
}, 240_000);
