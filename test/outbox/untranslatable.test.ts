/**
 * Never stricter, never stuck: a write the orchestrator's PostgreSQL could not store (U+0000 or a lone surrogate
 * in its text, a tag over VARCHAR(64)) reaches legacy and is answered as legacy answers it; on the new side it is
 * parked at once as untranslatable with its reason, and the key's later writes still land there.
 */
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { flagName } from '../../src/flags/names.js';
import { assertStorable } from '../../src/services/storable.js';
import { Untranslatable } from '../../src/services/types.js';
import { pyLoads } from '../../src/util/pyjson.js';
import { startMigrationStack, type MigrationStack } from '../support/migration.js';
import { ReqClient } from '../support/zmq-client.js';

let stack: MigrationStack;
let db: pg.Pool;

beforeAll(async () => {
  stack = await startMigrationStack({ [flagName('jarvis-memory', 'dual-write')]: { enabled: true } });
  db = new pg.Pool({ connectionString: stack.databaseUrl, max: 2 });
});
afterAll(async () => {
  await db?.end();
  await stack?.close();
});

it('knows what PostgreSQL refuses: U+0000 and lone surrogates anywhere, tags and user ids over 64 characters', () => {
  const refused = (action: string, payload: Record<string, unknown>) => {
    try {
      assertStorable(action, payload);
      return undefined;
    } catch (err) {
      expect(err).toBeInstanceOf(Untranslatable);
      return (err as Untranslatable).reason;
    }
  };
  expect(refused('create', { content: { text: 'a\u0000b' } })).toBe('unstorable_text');
  expect(refused('create', { content: { metadata: { ['k\ud800']: 1 } } })).toBe('unstorable_text');
  expect(refused('create', { content: { text: 'fine \u{1f600}' }, tags: ['x'.repeat(64)] })).toBeUndefined();
  expect(refused('create', { content: {}, tags: ['x'.repeat(65)] })).toBe('too_long');
  expect(refused('create', { content: { metadata: { memory: { n: NaN } } } })).toBe('unstorable_number');
  expect(refused('create', { content: { metadata: { memory: [pyLoads('1e400')] } } })).toBe('unstorable_number');
  expect(refused('create', { content: { metadata: { memory: pyLoads('[3.0, 1e-05, 123456789012345678901234567890]') } } })).toBeUndefined();
  expect(refused('create_session', { user_id: 'u'.repeat(65) })).toBe('too_long');
});

it('passes the write to legacy, parks it as untranslatable at once, and lets the key go on', async () => {
  const client = new ReqClient(stack.proxy.fronts['jarvis-memory']!);
  try {
    const direct = new ReqClient(stack.sims.endpoints['jarvis-memory']);
    const nul = '{"action": "add_memory", "user_id": "nul-user", "memory": {"text": "a\\u0000b"}}';
    expect((await client.raw(nul)).toString()).toBe((await direct.raw(nul.replace('nul-user', 'nul-direct'))).toString());
    direct.close();
    expect((await client.raw('{"action": "add_memory", "user_id": "nul-user", "memory": "after"}')).toString()).toBe('{"status": "ok"}');
    const rows = async () =>
      (
        await db.query<{ status: string; last_error: string | null; attempts: number }>(
          `SELECT status, last_error, attempts FROM outbox WHERE key = 'nul-user' ORDER BY seq`,
        )
      ).rows;
    const deadline = Date.now() + 20_000;
    while (!(await rows()).every((r) => r.status === 'dead' || r.status === 'done')) {
      if (Date.now() > deadline) throw new Error(`writes still open: ${JSON.stringify(await rows())}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const [first, second] = await rows();
    expect(first).toMatchObject({ status: 'dead', attempts: 1 });
    expect(first!.last_error).toMatch(/^untranslatable: .*U\+0000/);
    expect(second!.status).toBe('done');
    const onNew = (await stack.readNew('jarvis-memory', { action: 'get_memories', user_id: 'nul-user' })) as { memories: { memory: unknown }[] };
    expect(onNew.memories.map((m) => m.memory)).toEqual(['after']);
    // Legacy holds both.
    expect((stack.readLegacy('jarvis-memory', { action: 'get_memories', user_id: 'nul-user' }) as { memories: unknown[] }).memories).toHaveLength(2);
  } finally {
    client.close();
  }
}, 60_000);
