/** Test helper: finishes one claimed write as applied, through OutboxTable.completeAll (the runner's batch of one). */
import type { OutboxRow, OutboxTable } from '../../src/outbox/table.js';

export async function completeOne(
  table: OutboxTable,
  id: string,
  owner: string,
  leaseMs: number,
): Promise<{ completed: boolean; next: OutboxRow | undefined }> {
  const r = await table.completeAll(owner, leaseMs, [{ id, known: [], end: { status: 'done' } }]);
  return { completed: r.completed.has(id), next: r.next[0] };
}
