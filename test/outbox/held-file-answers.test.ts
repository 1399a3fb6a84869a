/**
 * kill -9 of a proxy while the state store is away, with the primary's answers to its held writes noted in
 * outbox.heldFile beside them: the next start copies the write its primary applied as applied (no look-up, none counted
 * assumed) and drops the one its primary refused. ContextualMemoryAgent offers no read that shows a write: before, the
 * start looked both up, found nothing to tell, and copied both as assumed applied, the refused one too (chaos seed 831:
 * 172 writes so assumed after a kill 1 s after a store outage). The proxy runs as a child process.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ReqClient } from '../support/zmq-client.js';
import { legacyRecords, newRecords } from '../hangs/records.js';
import { useChildStack } from '../hangs/support.js';
import { openRows, queryOnce, waitUntil } from './support.js';

const C = 'contextual-memory' as const;
const stack = useChildStack({ stage: 'dual-write', services: [C], relayed: true });
const SESSION = 'held-answers';

async function write(content: string): Promise<unknown> {
  const agent = new ReqClient(stack.memshift().fronts[C]!, 15_000);
  try {
    return await agent.call({ action: 'add_interaction', session_id: SESSION, type: 'user_query', content });
  } finally {
    agent.close();
  }
}

it('copies a held write its primary applied and drops one it refused, from the answers kept in outbox.heldFile', async () => {
  const [sims, url, relay] = [stack.sims(), stack.url(), stack.relay()];
  const file = join(stack.dir(), 'held-writes-0.jsonl');
  expect(await write('before the outage')).toBe(true);
  await waitUntil(async () => (await openRows(url)).open === 0, 30_000, 'the first write copied');

  relay.cut();
  expect(await write('applied while away')).toBe(true);
  await sims.applyFaults(C, { errorRate: 1 });
  expect(await write('refused while away')).toMatchObject({ status: 'error' });
  await sims.applyFaults(C, { errorRate: 0 });
  const answers = async () => (await readFile(file, 'utf8')).split('\n').filter((l) => l.includes('"answered"')).length;
  await waitUntil(async () => (await answers()) === 2, 30_000, 'both answers in the file');
  await stack.memshift().kill();

  relay.restore();
  await stack.memshift().restart();
  // The first write's row and both held ones, each finished (copied, or dropped).
  const finished = async () => (await queryOnce(url, `SELECT 1 FROM outbox WHERE NOT open`)).length === 3 && (await openRows(url)).open === 0;
  await waitUntil(finished, 60_000, 'the held writes stored, and copied or dropped');
  const agent = { service: C, key: SESSION };
  expect(legacyRecords(sims, agent)).toEqual(['before the outage', 'applied while away']);
  expect(newRecords(sims, agent)).toEqual(legacyRecords(sims, agent));
  const assumed = await queryOnce<{ n: string | null }>(url, `SELECT sum(count) AS n FROM unknown_outcomes WHERE outcome = 'assumed'`);
  expect(Number(assumed[0]?.n ?? 0)).toBe(0);
}, 120_000);
