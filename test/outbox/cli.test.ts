/** `memshift outbox list|retry|purge` against a real database. */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { command, durationMs } from '../../src/commands/outbox.js';
import { OutboxTable } from '../../src/outbox/table.js';
import { migrate } from '../../src/store/migrations.js';
import { freshDatabaseUrl } from '../support/database.js';
import { completeOne } from '../support/outbox.js';

let url: string;
let pool: pg.Pool;
let table: OutboxTable;

beforeAll(async () => {
  url = await freshDatabaseUrl();
  pool = new pg.Pool({ connectionString: url });
  await migrate(pool);
  table = new OutboxTable(pool);
  for (const [n, key] of ['alice', 'bob'].entries()) {
    await table.insert(
      {
        id: randomUUID(),
        service: 'jarvis-memory',
        key,
        action: 'add_memory',
        side: 'new',
        raw: Buffer.from(`{"action": "add_memory", "user_id": "${key}", "memory": ${n}}`),
        effect: 'neutral',
        createdAt: new Date(),
      },
      0,
      true,
    );
  }
  const [row] = await table.claimKeys('w', 1000, [{ service: 'jarvis-memory', key: 'alice' }]);
  await table.release(row!.id, 'w', { park: true, delayMs: 0, error: 'orchestrator validation_error: nope', sent: false, primaryOk: true, counted: true });
});
afterAll(async () => {
  await pool?.end();
});

async function run(...argv: string[]): Promise<{ code: number | void; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));
  try {
    return { code: await command.run([...argv, '--set', `store.url=${url}`]), out };
  } finally {
    spy.mockRestore();
  }
}

it('lists parked and pending writes, as a table or as JSON lines', async () => {
  const { out } = await run('list');
  expect(out).toMatch(/alice\s+\d+\s+add_memory\s+new\s+dead\s+1\s+\d+s\s+orchestrator validation_error: nope/);
  expect(out).toMatch(/bob\s+\d+\s+add_memory\s+new\s+pending\s+0/);
  const lines = (await run('list', '--status', 'dead', '--json')).out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(lines).toEqual([expect.objectContaining({ key: 'alice', status: 'dead', request: '{"action": "add_memory", "user_id": "alice", "memory": 0}' })]);
});

it('retries parked writes and purges finished ones', async () => {
  expect((await run('retry', '--service', 'jarvis-memory')).out).toBe('1 parked write back to pending\n');
  expect((await table.list({ statuses: ['dead'] })).length).toBe(0);
  const [row] = await table.claimKeys('w', 1000, [{ service: 'jarvis-memory', key: 'alice' }]);
  await completeOne(table, row!.id, 'w', 1000);
  expect((await run('purge', '--older-than', '1h')).out).toBe('0 finished writes deleted\n');
  expect((await run('purge', '--older-than', '0s', '--status', 'done')).out).toBe('1 finished write deleted\n');
});

it('refuses an unknown verb or status, and reads durations', async () => {
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    expect(await command.run(['drop'])).toBe(2);
  } finally {
    err.mockRestore();
  }
  await expect(run('list', '--status', 'lost')).rejects.toThrow(/unknown lost/);
  expect([durationMs('90s'), durationMs('30m'), durationMs('24h'), durationMs('7d'), durationMs('250')]).toEqual([
    90_000, 1_800_000, 86_400_000, 604_800_000, 250,
  ]);
  expect(() => durationMs('soon')).toThrow(/not a duration/);
});
