/** Test helpers for the outbox table: a migrated database of its own for a file, and one claimed write finished as applied. */
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { OutboxTable, type OutboxRow } from '../../src/outbox/table.js';
import { migrate } from '../../src/store/migrations.js';
import { freshDatabaseUrl } from './database.js';

/** A fresh database with memshift's tables, its pool and outbox table: set before the file's tests, closed after. */
export function useOutboxTable(): { pool: pg.Pool; table: OutboxTable } {
  const db = {} as { pool: pg.Pool; table: OutboxTable };
  beforeAll(async () => {
    db.pool = new pg.Pool({ connectionString: await freshDatabaseUrl() });
    await migrate(db.pool);
    db.table = new OutboxTable(db.pool);
  });
  afterAll(async () => {
    await db.pool?.end();
  });
  return db;
}

/** Finishes one claimed write as applied, through OutboxTable.completeAll (the runner's batch of one). */
export async function completeOne(
  table: OutboxTable,
  id: string,
  owner: string,
  leaseMs: number,
): Promise<{ completed: boolean; next: OutboxRow | undefined }> {
  const r = await table.completeAll(owner, leaseMs, [{ id, known: [], end: { status: 'done' } }]);
  return { completed: r.completed.has(id), next: r.next[0] };
}
