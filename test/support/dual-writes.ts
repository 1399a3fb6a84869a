/** A state store put to use as a deployment would: proxies on it dual-write a session, and both writes end done on both sides. */
import { expect } from 'vitest';
import { flagName } from '../../src/flags/names.js';
import { startProxy, type Proxy } from '../../src/proxy.js';
import { TempFlags } from '../flags/helpers.js';
import { newRecords, waitUntil } from '../outbox/support.js';
import { configFor, startSims } from './stack.js';
import { ReqClient } from './zmq-client.js';

/** The session-memory writes of one session: its creation, then an interaction. */
export const sessionWrites = (session: string) => [
  { action: 'create_session', session_id: session, user_id: 'ana' },
  { action: 'add_interaction', session_id: session, role: 'user', content: `written as ${session}` },
];

/** How many of the session's secondary writes the outbox holds done. */
export const doneInOutbox = async (proxy: Proxy, session: string): Promise<number> =>
  (await proxy.store.pool.query<{ done: number }>(`SELECT count(*)::int AS done FROM outbox WHERE key = $1 AND status = 'done'`, [session])).rows[0]!.done;

/**
 * Simulators and `replicas` proxies (session-memory dual-write) on the store at `url`, with `extra` config: the session
 * created through the first and written through the last; both writes stored in the outbox and done, the interaction
 * on the orchestrator. Then `check(proxies)` while they still run; everything closed after.
 */
export async function servesDualWrites(
  url: string,
  session: string,
  o: { replicas?: number; extra?: Record<string, unknown>; check?: (proxies: Proxy[]) => Promise<void> } = {},
): Promise<void> {
  const sims = await startSims();
  const temp = await TempFlags.create({ [flagName('session-memory', 'dual-write')]: { enabled: true } });
  const flags = await temp.open();
  const proxies: Proxy[] = [];
  try {
    for (let i = 0; i < (o.replicas ?? 1); i++) proxies.push(await startProxy(configFor(sims, url, o.extra), { flags }));
    for (const [i, request] of sessionWrites(session).entries()) {
      const agent = new ReqClient(proxies[Math.min(i, proxies.length - 1)]!.fronts['session-memory']!, 10_000);
      try {
        expect(await agent.call(request)).toMatchObject({ status: 'success' });
      } finally {
        agent.close();
      }
    }
    await waitUntil(() => newRecords(sims, session).contents.length === 1, 30_000, 'the orchestrator has the interaction');
    // Both writes stored as intents and finished by the outbox: the state store answered throughout. A write is marked
    // done once its apply has returned, a moment after the orchestrator has it (run 132 read the second still in flight).
    await waitUntil(async () => (await doneInOutbox(proxies[0]!, session)) === 2, 30_000, 'both writes done in the outbox');
    await o.check?.(proxies);
  } finally {
    for (const p of proxies) {
      await p.close();
      await p.store.close();
    }
    await temp.dispose();
    await sims.close();
  }
}
