/** The outbox table on real PostgreSQL: key heads, per-key order under concurrent claimers, leases, parking, CLI queries. */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { OutboxTable, PURGE_BATCH, type OutboxIntent } from '../../src/outbox/table.js';
import { migrate } from '../../src/store/migrations.js';
import { freshDatabaseUrl } from '../support/database.js';
import { completeOne } from '../support/outbox.js';

let pools: pg.Pool[];
let table: OutboxTable;
const S = 'session-memory' as const;
const SERVICES = [S];

beforeAll(async () => {
  const url = await freshDatabaseUrl();
  pools = [new pg.Pool({ connectionString: url }), new pg.Pool({ connectionString: url })];
  await migrate(pools[0]!);
  table = new OutboxTable(pools[0]!);
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
});
beforeEach(async () => {
  await pools[0]!.query('TRUNCATE outbox, outbox_keys');
});

const intent = (key: string, n: number): OutboxIntent => ({
  id: randomUUID(),
  service: S,
  key,
  action: 'add_interaction',
  side: 'new',
  raw: Buffer.from(JSON.stringify({ action: 'add_interaction', session_id: key, role: 'user', content: `${key}#${n}` })),
  effect: 'neutral',
  createdAt: new Date(),
});
const content = (raw: Buffer) => (JSON.parse(raw.toString()) as { content: string }).content;
const poll = (owner: string, limit = 100, leaseMs = 30_000) => table.claim({ owner, leaseMs, limit, services: SERVICES, ownerGoneMs: 3_000 });

it('claims only the head of each key, and hands the next one over when the head is done', async () => {
  for (let n = 0; n < 3; n++) await table.insert(intent('a', n), 0, true);
  await table.insert(intent('b', 0), 0, true);
  const first = await poll('w1');
  expect(first.map((r) => content(r.raw)).sort()).toEqual(['a#0', 'b#0']);
  expect(await poll('w2')).toEqual([]);

  const a0 = first.find((r) => r.key === 'a')!;
  const { completed, next } = await completeOne(table, a0.id, 'w1', 30_000);
  expect(completed).toBe(true);
  expect(content(next!.raw)).toBe('a#1');
  expect(next).toMatchObject({ status: 'inflight', attempts: 1, owner: 'w1' });

  // A failed head holds its successors back until its retry is due; it keeps when its primary acknowledged it.
  const ackedAt = new Date(Date.now() - 3_000);
  const failed = { park: false, delayMs: 60_000, error: 'unavailable', sent: false, primaryOk: true, counted: true, ackedAt };
  expect(await table.release(next!.id, 'w1', failed)).toBe(true);
  const kept = await pools[0]!.query<{ acked_at: Date }>('SELECT acked_at FROM outbox WHERE id = $1', [next!.id]);
  expect(kept.rows[0]!.acked_at).toEqual(ackedAt);
  expect(await poll('w2')).toEqual([]);
  expect(await table.claimKeys('w2', 1000, [{ service: S, key: 'a' }])).toEqual([]);
});

it('finishes writes of several keys in one statement, each handing the next write of its own key over', async () => {
  for (const key of ['a', 'b', 'c']) for (let n = 0; n < 2; n++) await table.insert(intent(key, n), 0, true);
  const heads = await poll('w1');
  expect(heads).toHaveLength(3);
  const [a, b, c] = ['a', 'b', 'c'].map((k) => heads.find((r) => r.key === k)!);
  // The claim on c was lost meanwhile (its lease ran out and another owner took it): it is not finished, nor is its next taken.
  await pools[0]!.query(`UPDATE outbox SET owner = 'w2' WHERE id = $1`, [c!.id]);
  const { completed, next } = await table.completeAll('w1', 30_000, [
    { id: a!.id, known: [], end: { status: 'done' } },
    { id: b!.id, known: [], end: { status: 'dropped', reason: 'absent on its primary' } },
    { id: c!.id, known: [], end: { status: 'done' } },
  ]);
  expect([...completed].sort()).toEqual([a!.id, b!.id].sort());
  expect(next.map((r) => content(r.raw)).sort()).toEqual(['a#1', 'b#1']);
  const rows = await table.list({ statuses: ['done', 'dropped', 'inflight'] });
  // A finished write keeps no request.
  expect(rows.map((r) => [r.raw.length ? content(r.raw) : `${r.key} (finished)`, r.status, r.owner, r.lastError])).toEqual([
    ['a (finished)', 'done', 'w1', null],
    ['a#1', 'inflight', 'w1', null],
    ['b (finished)', 'dropped', 'w1', 'absent on its primary'],
    ['b#1', 'inflight', 'w1', null],
    ['c#0', 'inflight', 'w2', null],
  ]);
});

it('gives a fresh write to its storer at once (it knows its primary answered), and to everyone else only after its lease', async () => {
  const i = intent('k', 0);
  await table.insert(i, 60_000, null);
  expect(await poll('other')).toEqual([]);
  const byKey = (known: string[]) => table.claimKeys('storer', 1000, [{ service: S, key: 'k' }], known);
  // Its primary call may still be under way: not even its key's pump takes it unless the storer says so.
  expect(await byKey([])).toEqual([]);
  const [mine] = await byKey([i.id]);
  expect(content(mine!.raw)).toBe('k#0');
  expect(mine).toMatchObject({ primaryOk: null, wasSent: false });
});

it('takes a write stored claimed by its storer without writing again, and never gives it to anyone else while its lease lasts', async () => {
  const [a, b] = [intent('k', 0), intent('k', 1)];
  for (const i of [a, b]) await table.insert(i, 60_000, null, 'storer');
  const version = async (id: string) => (await pools[0]!.query<{ xmin: string }>('SELECT xmin FROM outbox WHERE id = $1', [id])).rows[0]!.xmin;
  const before = await version(a.id);
  expect(await poll('other')).toEqual([]);
  expect(await table.claimKeys('other', 1000, [{ service: S, key: 'k' }], [], [a.id])).toEqual([]);
  const [mine] = await table.claimKeys('storer', 1000, [{ service: S, key: 'k' }], [a.id, b.id], [a.id, b.id]);
  // Only the key's head; the storer never sent it, and the row is the one stored (no new version: no WAL flush waited for).
  expect(mine).toMatchObject({ id: a.id, status: 'inflight', owner: 'storer', attempts: 1, wasSent: false });
  expect(await version(a.id)).toBe(before);
  // Finishing it hands the next held write over, again untouched.
  const beforeB = await version(b.id);
  const { completed, next } = await table.completeAll('storer', 1000, [{ id: a.id, known: [b.id], held: [b.id], end: { status: 'done' } }]);
  expect(completed.has(a.id)).toBe(true);
  expect(next).toEqual([expect.objectContaining({ id: b.id, wasSent: false, attempts: 1 })]);
  expect(await version(b.id)).toBe(beforeB);
});

it('treats a write stored claimed as possibly sent once its storer is gone, and as unsent when its storer hands it over', async () => {
  const [gone, handed, waiting] = [intent('g', 0), intent('h', 0), intent('w', 0)];
  await table.insert(gone, 0, null, 'dead-storer');
  await table.insert(handed, 60_000, true, 'storer');
  await table.insert(waiting, 60_000, null);
  // The storer died after storing it: whoever takes it looks the secondary up before sending.
  expect(await poll('heir')).toEqual([expect.objectContaining({ id: gone.id, owner: 'heir', attempts: 2, wasSent: true })]);
  // A storer that could not take its own writes (an earlier one of the key is elsewhere) gives them up as never sent,
  // in one statement, each with what it knows: when it saw the primary acknowledge it (the time its copy carries,
  // whoever makes it), or nothing (the primary's answer unknown: the taker looks it up).
  const ackedAt = new Date(Date.now() - 5_000);
  await table.handOver([
    { id: handed.id, primaryOk: true, heldBy: 'storer', ackedAt },
    { id: waiting.id, primaryOk: null, heldBy: null, ackedAt: null },
  ]);
  const next = await poll('next');
  expect(next).toHaveLength(2);
  expect(next).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ id: handed.id, owner: 'next', attempts: 1, wasSent: false, primaryOk: true, ackedAt }),
      expect.objectContaining({ id: waiting.id, owner: 'next', attempts: 1, wasSent: false, primaryOk: null, ackedAt: null }),
    ]),
  );
});

it('lets another owner take a write whose lease ran out; the old owner then cannot finish it', async () => {
  await table.insert(intent('k', 0), 0, true);
  const before = Date.now();
  const [row] = await poll('dead-owner', 1, 200);
  await new Promise((r) => setTimeout(r, 400));
  const [again] = await poll('heir');
  // The dead owner may have sent it: the heir must look it up before sending it again.
  expect(row).toMatchObject({ wasSent: false });
  expect(again).toMatchObject({ id: row!.id, attempts: 2, owner: 'heir', wasSent: true });
  // It was sent, if at all, under the dead owner's lease: by its end, not by the heir's claim (a barrier begun between covers it).
  expect(again!.sentBy).toBeGreaterThanOrEqual(before + 199);
  expect(again!.sentBy).toBeLessThanOrEqual(again!.claimedAt - 150);
  expect((await completeOne(table, row!.id, 'dead-owner', 1000)).completed).toBe(false);
  expect((await completeOne(table, row!.id, 'heir', 1000)).completed).toBe(true);
});

it('stores an intent once however often it is stored', async () => {
  const i = intent('k', 0);
  await table.insert(i, 0, true);
  await table.insert(i, 0, true);
  await table.insertAll(
    [i, intent('k', 1)].map((x) => ({ intent: x, primaryOk: true })),
    0,
  );
  expect((await table.list({ key: 'k' })).map((r) => content(r.raw))).toEqual(['k#0', 'k#1']);
});

it("stores concurrent intents of distinct keys in one statement, behind each key's earlier writes, once however often", async () => {
  await table.insert(intent('a', 0), 0, true);
  const batch = [intent('a', 1), intent('b', 0), intent('c', 0)];
  await table.insertDistinct(batch, 0, true);
  // A batch stored again (its first attempt landing late): nothing is stored twice.
  await table.insertDistinct([batch[1]!, intent('c', 1)], 0, true);
  const rows = await table.list({});
  const byKey = (k: string) => rows.filter((r) => r.key === k).sort((x, y) => Number(x.seq) - Number(y.seq));
  expect(byKey('a').map((r) => content(r.raw))).toEqual(['a#0', 'a#1']);
  expect(byKey('b').map((r) => content(r.raw))).toEqual(['b#0']);
  expect(byKey('c').map((r) => content(r.raw))).toEqual(['c#0', 'c#1']);
  expect(rows.find((r) => r.id === batch[2]!.id)).toMatchObject({ status: 'pending', effect: 'neutral', side: 'new', action: 'add_interaction' });
  // The head rule sees them: one head per key.
  expect((await poll('w1')).map((r) => content(r.raw)).sort()).toEqual(['a#0', 'b#0', 'c#0']);
  // A key twice in one statement is refused by PostgreSQL, which is why the outbox stores such a batch with insertAll.
  await expect(table.insertDistinct([intent('d', 0), intent('d', 1)], 0, true)).rejects.toThrow(/second time/);
});

it('stores a backlog of several writes per key in the order given, each with its own lease where it names one, and what it says of its primary', async () => {
  // As an outage's held writes reach the flush: a few keys, each written several times, interleaved.
  const backlog = [0, 1, 2, 3].flatMap((n) => ['x', 'y', 'z'].map((k) => intent(k, n)));
  const replayed = backlog[7]!; // y#2, as one an earlier process held: its own lease
  await table.insertAll(
    backlog.map((i) => ({ intent: i, primaryOk: i === backlog[4] ? true : null, ...(i === replayed ? { leaseMs: 60_000 } : {}) })),
    0,
  );
  const rows = await table.list({});
  const ofKey = (k: string) => rows.filter((r) => r.key === k).sort((a, b) => Number(a.seq) - Number(b.seq));
  for (const k of ['x', 'y', 'z']) expect(ofKey(k).map((r) => content(r.raw))).toEqual([0, 1, 2, 3].map((n) => `${k}#${n}`));
  // Their seqs follow the order given across keys too (the flush stores the oldest first).
  expect(rows.sort((a, b) => Number(a.seq) - Number(b.seq)).map((r) => content(r.raw))).toEqual(backlog.map((i) => content(i.raw)));
  const byId = new Map(rows.map((r) => [r.id, r]));
  expect(byId.get(replayed.id)!.nextAttemptAt.getTime()).toBeGreaterThan(Date.now() + 30_000);
  expect(byId.get(backlog[8]!.id)!.nextAttemptAt.getTime()).toBeLessThan(Date.now() + 30_000);
  expect(rows.filter((r) => r.primaryOk).map((r) => r.id)).toEqual([backlog[4]!.id]);
});

it('keeps per-key order and applies each write once with two claimers racing', async () => {
  const keys = Array.from({ length: 12 }, (_, k) => `key-${k}`);
  for (let n = 0; n < 15; n++) for (const k of keys) await table.insert(intent(k, n), 0, true);
  const applied = new Map<string, string[]>();
  const inFlight = new Set<string>();
  let overlaps = 0;
  const worker = async (owner: string, t: OutboxTable) => {
    for (let idle = 0; idle < 5;) {
      const rows = await t.claim({ owner, leaseMs: 30_000, limit: 4, services: SERVICES, ownerGoneMs: 3_000 });
      if (!rows.length) {
        idle++;
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      idle = 0;
      await Promise.all(
        rows.map(async (first) => {
          for (let row: typeof first | undefined = first; row;) {
            if (inFlight.has(row.key)) overlaps++;
            inFlight.add(row.key);
            applied.set(row.key, [...(applied.get(row.key) ?? []), content(row.raw)]);
            await new Promise((r) => setTimeout(r, Math.random() * 3));
            inFlight.delete(row.key);
            row = (await completeOne(t, row.id, owner, 30_000)).next;
          }
        }),
      );
    }
  };
  await Promise.all([worker('w1', table), worker('w2', new OutboxTable(pools[1]!))]);
  expect(overlaps).toBe(0);
  for (const k of keys) expect(applied.get(k)).toEqual(Array.from({ length: 15 }, (_, n) => `${k}#${n}`));
  const owners = await pools[0]!.query(`SELECT count(DISTINCT owner) AS n, count(*) FILTER (WHERE status = 'done') AS done FROM outbox`);
  expect(owners.rows[0]).toEqual({ n: '2', done: String(12 * 15) });
});

it('parks, lists, retries and purges', async () => {
  await table.insert(intent('p', 0), 0, true);
  const [row] = await poll('w');
  await table.release(row!.id, 'w', { park: true, delayMs: 0, error: 'refused', sent: false, primaryOk: true, counted: true });
  const dead = await table.list({ statuses: ['dead'] });
  expect(dead).toMatchObject([{ id: row!.id, status: 'dead', lastError: 'refused', attempts: 1 }]);
  expect(await table.stats()).toMatchObject({ depth: 0, parked: 1 });

  expect(await table.retry({ ids: [row!.id] })).toBe(1);
  expect(await table.stats()).toMatchObject({ depth: 1, parked: 0 });
  const [back] = await poll('w');
  expect(back).toMatchObject({ id: row!.id, attempts: 1 });
  await completeOne(table, back!.id, 'w', 1000);

  expect(await table.purge({ statuses: ['done'], olderThanMs: 60_000 })).toEqual({ deleted: 0, more: false });
  expect(await table.purge({ statuses: ['done'], olderThanMs: 0 })).toEqual({ deleted: 1, more: false });
  expect((await pools[0]!.query('SELECT count(*) AS n FROM outbox_keys')).rows[0].n).toBe('0');
});

it('purges a backlog of finished writes in bounded statements, a few at a time when asked', async () => {
  const n = 2 * PURGE_BATCH + 7;
  await pools[0]!.query(
    `INSERT INTO outbox (id, service, key, seq, action, side, request, status, updated_at)
     SELECT gen_random_uuid(), 'session-memory', 'old-' || g, g, 'add_interaction', 'new', '\\x7b7d', 'done', now() - interval '2 hours'
     FROM generate_series(1, $1) g`,
    [n],
  );
  // One statement per batch: the worker's poll does two and goes on at its next tick.
  expect(await table.purge({ statuses: ['done'], olderThanMs: 3_600_000, maxBatches: 1 })).toEqual({ deleted: PURGE_BATCH, more: true });
  expect(await table.purge({ statuses: ['done'], olderThanMs: 3_600_000 })).toEqual({ deleted: n - PURGE_BATCH, more: false });
  expect((await pools[0]!.query("SELECT count(*) AS n FROM outbox WHERE status = 'done'")).rows[0].n).toBe('0');
});
