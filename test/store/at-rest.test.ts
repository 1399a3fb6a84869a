/**
 * Users' values at rest: mismatch samples and reconciliation differences are stored redacted by default (shape,
 * size, keyed hash; no text), and kept in full only when configured, then deleted after their retention.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/db.js';
import { valuesAtRestFor } from '../../src/store/open.js';
import { ReconcileRuns } from '../../src/reconcile/runs.js';
import { parseConfig } from '../../src/config.js';
import { freshDatabaseUrl } from '../support/database.js';

const MARKER = 'call-mom-at-six-7f3a';
let redacted: Store;
let full: Store;

beforeAll(async () => {
  const url = await freshDatabaseUrl();
  redacted = await openStore({ url, flushIntervalMs: 60_000, valuesAtRest: valuesAtRestFor(parseConfig({ store: { url, redactionKey: 'k'.repeat(32) } })) });
  full = await openStore({
    url: await freshDatabaseUrl(),
    flushIntervalMs: 60_000,
    valuesAtRest: valuesAtRestFor(parseConfig({ store: { valuesAtRest: 'full', fullValuesRetentionHours: 1 } })),
  });
});
afterAll(async () => {
  await redacted?.close();
  await full?.close();
});

const sample = (at?: Date) => ({
  service: 'jarvis-memory',
  action: 'get_memories',
  request: { action: 'get_memories', user_id: 'u1' },
  legacyReply: { status: 'ok', memories: [{ timestamp: 1.5, memory: MARKER }] },
  newReply: { status: 'ok', memories: [{ timestamp: 1.5, memory: `${MARKER}!` }] },
  diff: [{ path: 'memories[0].memory', field: 'memories[].memory', legacy: MARKER, new: `${MARKER}!` }],
  ...(at ? { at } : {}),
});

/** Every row of the table as text. */
const dump = async (store: Store, table: string) =>
  (await store.pool.query<{ t: string }>(`SELECT t::text AS t FROM ${table} t`)).rows.map((r) => r.t).join('\n');

it('stores mismatch samples redacted by default: shapes and paths kept, no text, equal values alike', async () => {
  redacted.samples.add(sample());
  await redacted.samples.flush();
  expect(await dump(redacted, 'mismatch_samples')).not.toContain(MARKER);
  const [s] = await redacted.samples.list({ service: 'jarvis-memory' });
  const legacy = s!.legacyReply as { status: string; memories: { memory: string; timestamp: string }[] };
  expect(legacy.memories).toHaveLength(1);
  expect(legacy.memories[0]!.memory).toMatch(/^‹string, 20 chars, #[0-9a-f]{8}›$/);
  expect(s!.diff[0]).toMatchObject({ path: 'memories[0].memory', field: 'memories[].memory', legacy: legacy.memories[0]!.memory });
  expect(s!.diff[0]!.new).not.toBe(s!.diff[0]!.legacy);
});

it('stores reconciliation differences redacted by default', async () => {
  const runs = new ReconcileRuns(redacted.pool, valuesAtRestFor(parseConfig({})));
  const run = await runs.start('jarvis-memory', { trigger: 'manual', stage: 'off', truth: 'legacy', repair: false });
  await runs.saveDifferences(run.id, [
    { key: 'u1', kind: 'differing', diffs: [{ path: 'memories[0].memory', field: 'memories[].memory', kind: 'content', legacy: MARKER, new: 'x' }] },
  ]);
  await runs.finish(run.id, { status: 'done', converged: 0, repaired: 0, repairFailed: 0, sampleSize: 5 });
  expect(await dump(redacted, 'reconcile_differences')).not.toContain(MARKER);
  expect(await dump(redacted, 'reconcile_runs')).not.toContain(MARKER);
  expect((await runs.differences(run.id))[0]!.diffs[0]!.path).toBe('memories[0].memory');
});

it('keeps full values only when configured, and deletes them after their retention', async () => {
  full.samples.add(sample(new Date(Date.now() - 2 * 3_600_000)));
  full.samples.add(sample());
  await full.samples.flush();
  const kept = await full.samples.list({ service: 'jarvis-memory' });
  expect(kept).toHaveLength(1);
  expect(JSON.stringify(kept[0]!.legacyReply)).toContain(MARKER);
});
