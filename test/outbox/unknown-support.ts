/** Unknown outcomes' tests' agents and faults: writes through the proxy one at a time, a simulator hung a while, the outbox drained. */
import type { SimTarget } from '../../src/tools/sim/index.js';
import { flagName } from '../../src/flags/names.js';
import type { Edits } from '../../src/flags/edit.js';
import type { MigrationStack } from '../support/migration.js';
import { ReqClient } from '../support/zmq-client.js';
import { sleep, waitUntil } from './support.js';

/** An agent of one service: the request of its `n`-th write, and the reply that acknowledges it. */
export interface Writer {
  service: 'jarvis-memory' | 'contextual-memory';
  request(n: number): Record<string, unknown>;
  acked(reply: unknown): boolean;
}

/** One agent's writes through the proxy, one at a time; resolves with the `n` of each acknowledged one. */
export async function writeAll(s: MigrationStack, w: Writer, from: number, count: number, timeoutMs = 5_000): Promise<number[]> {
  const agent = new ReqClient(s.proxy.fronts[w.service]!, timeoutMs);
  const acked: number[] = [];
  try {
    for (let n = from; n < from + count; n++) {
      if (w.acked(await agent.call(w.request(n)).catch(() => undefined))) acked.push(n);
    }
  } finally {
    agent.close();
  }
  return acked;
}

/** Hangs `target`, runs `during`, resumes it after `hangMs` in all. */
export async function hung<T>(s: MigrationStack, target: SimTarget, hangMs: number, during: () => Promise<T>): Promise<T> {
  await s.sims.applyFaults(target, { hang: true });
  const started = Date.now();
  try {
    return await during();
  } finally {
    await sleep(Math.max(0, hangMs - (Date.now() - started)));
    await s.sims.applyFaults(target, { hang: false });
  }
}

export async function drained(s: MigrationStack): Promise<void> {
  const open = async () => Number((await s.proxy.store.pool.query('SELECT count(*) AS n FROM outbox WHERE open')).rows[0].n);
  await waitUntil(async () => (await open()) === 0, 60_000, 'outbox drained');
}

/** A jarvis-memory agent adding `{user, n}` memories for one user, one at a time. */
export const writeMemories = (s: MigrationStack, user: string, from: number, count: number, timeoutMs?: number) =>
  writeAll(
    s,
    {
      service: 'jarvis-memory',
      request: (n) => ({ action: 'add_memory', user_id: user, memory: { user, n } }),
      acked: (reply) => (reply as { status?: string } | undefined)?.status === 'ok',
    },
    from,
    count,
    timeoutMs,
  );

/** A get_memories reply's memories, in its order (none in an error reply). */
export const memoriesOf = (reply: unknown) => ((reply as { memories?: { memory: unknown }[] }).memories ?? []).map((m) => m.memory);

/** A jarvis-memory user's memories on each side: legacy's simulator, and the orchestrator through the translator. */
export const memoriesOnBothSides = async (s: MigrationStack, user: string) => ({
  legacy: memoriesOf(s.readLegacy('jarvis-memory', { action: 'get_memories', user_id: user })),
  fresh: memoriesOf(await s.readNew('jarvis-memory', { action: 'get_memories', user_id: user })),
});

/** The memories writeMemories made for these `n`. */
export const numberedMemories = (user: string, ns: number[]) => ns.map((n) => ({ user, n }));

/** jarvis-memory dual-writing, legacy written first; and at new-primary. */
export const JARVIS_DUAL_WRITE: Edits = { [flagName('jarvis-memory', 'dual-write')]: { enabled: true } };
export const JARVIS_NEW_PRIMARY: Edits = { ...JARVIS_DUAL_WRITE, [flagName('jarvis-memory', 'new-primary')]: { enabled: true } };
