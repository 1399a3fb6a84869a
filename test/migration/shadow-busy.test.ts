/** A shadow read of a key whose write is still on its way is not sent to the other side: skipped, and re-checked once the key settles. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { quiesce, SHADOW_ALL, startMigrationStack, type MigrationStack } from '../support/migration.js';
import { requestOnce } from '../support/zmq-client.js';

const S = 'session-memory' as const;
let stack: MigrationStack;
/** batch_read requests the orchestrator simulator took for conversation memories (the translator's get_context reads). */
let contextReads = 0;

beforeAll(async () => {
  stack = await startMigrationStack(SHADOW_ALL);
  const model = stack.sims.models.orchestrator;
  const handle = model.handle.bind(model);
  model.handle = (request, fault) => {
    const r = request as { action?: string; payload?: { filter?: { memory_type?: string; tags?: unknown } } };
    if (r.action === 'batch_read' && r.payload?.filter?.memory_type === 'conversation' && !r.payload.filter.tags) contextReads++;
    return handle(request, fault);
  };
});
afterAll(async () => {
  await stack?.close();
});

const send = async (request: Record<string, unknown>) => JSON.parse((await requestOnce(stack.proxy.fronts[S]!, request, 10_000)).toString('utf8'));

it('reads only legacy while a write to the key is on its way to new, and compares both sides once it has landed', async () => {
  await send({ action: 'create_session', session_id: 'busy-1' });
  await send({ action: 'add_interaction', session_id: 'busy-1', role: 'user', content: 'first' });
  await quiesce(stack.proxy, [S]);
  const stats = () => stack.proxy.runner.stats.of(S);
  const before = { ...stats(), reads: contextReads };

  // The next write reaches new 1.5 s after legacy answers it: meanwhile its key is busy.
  await stack.sims.applyFaults('orchestrator', { latencyMs: 1_500 });
  try {
    expect(await send({ action: 'add_interaction', session_id: 'busy-1', role: 'user', content: 'second' })).toMatchObject({ status: 'success' });
    const reply = await send({ action: 'get_context', session_id: 'busy-1' });
    expect(reply.context.map((c: { content: string }) => c.content)).toEqual(['first', 'second']);
  } finally {
    await stack.sims.applyFaults('orchestrator', { latencyMs: 0 });
  }
  await quiesce(stack.proxy, [S]);
  // One read of new for that get_context: the re-check's, after the write landed; none while it was on its way.
  expect([stats().skipped, stats().rechecked]).toEqual([before.skipped + 1, before.rechecked + 1]);
  expect(contextReads - before.reads).toBe(1);
  expect(stats().mismatches).toBe(before.mismatches);
});
