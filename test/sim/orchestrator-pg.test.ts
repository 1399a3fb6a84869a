/**
 * The orchestrator simulator's PostgreSQL store keeps each memory's tags as its last write left them: created,
 * replaced by an update, replaced after a restart that loaded them, and after a save that failed and was retried.
 */
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { envelope, send, startTestSims } from './helpers.js';

let url: string;
let db: pg.Client;
let sim: SimHandle | undefined;
beforeAll(async () => {
  url = await freshDatabaseUrl();
  db = new pg.Client({ connectionString: url });
  await db.connect();
});
afterAll(async () => {
  await sim?.close();
  await db?.end();
});

const start = async () => (sim = await startTestSims({ storage: { orchestratorDatabaseUrl: url, writeDelayMs: 10 } }));
const data = async (action: string, sessionId: string | undefined, payload: unknown) => {
  const reply = await send(sim!.endpoints.orchestrator, envelope(action, sessionId, payload));
  expect(reply, JSON.stringify(reply)).toMatchObject({ status: 'success' });
  return reply.data as Record<string, string>;
};
/** The tags stored for a memory, as the table holds them (a tag twice would show twice). */
const stored = async (id: string) =>
  (await db.query<{ tag: string }>('SELECT tag FROM memory_tags WHERE memory_id = $1 ORDER BY tag', [id])).rows.map((r) => r.tag);

it('stores tags as created, replaces them on update, also after a restart and a failed save', async () => {
  await start();
  const session = (await data('create_session', undefined, { user_id: 'u' })).session_id!;
  const memory = async (tags: string[]) =>
    (await data('create', session, { memory_type: 'context', content: { text: 't', source_agent: 'a' }, tags })).memory_id!;
  const first = await memory(['a', 'b']);
  await sim!.flush();
  expect(await stored(first)).toEqual(['a', 'b']);

  await data('update', session, { memory_id: first, tags: ['c'] });
  const second = await memory(['x']);
  await sim!.flush();
  expect(await stored(first)).toEqual(['c']);
  expect(await stored(second)).toEqual(['x']);

  // A restarted simulator knows these memories from the database: an update still replaces their tags.
  await sim!.close();
  await start();
  await data('update', session, { memory_id: second, tags: ['y', 'z'] });
  await sim!.flush();
  expect(await stored(second)).toEqual(['y', 'z']);

  // A save refused once (after its memory_entries upsert, so the whole transaction goes) is retried whole.
  // A sequence, since the refusal rolls back everything else it did.
  await db.query(`CREATE SEQUENCE refusals;
    CREATE FUNCTION refuse_once() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF nextval('refusals') = 1 THEN RAISE EXCEPTION 'refused once'; END IF; RETURN NULL; END $$;
    CREATE TRIGGER refuse_once AFTER INSERT ON memory_tags FOR EACH STATEMENT EXECUTE FUNCTION refuse_once();`);
  const third = await memory(['p']);
  await data('update', session, { memory_id: first, tags: ['d', 'e'] });
  await sim!.flush();
  expect((await db.query('SELECT is_called FROM refusals')).rows[0].is_called).toBe(true);
  for (const deadline = Date.now() + 30_000; (await stored(third)).length === 0 && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 50));
    await sim!.flush();
  }
  expect(await stored(third)).toEqual(['p']);
  expect(await stored(first)).toEqual(['d', 'e']);
  expect(await stored(second)).toEqual(['y', 'z']);
});
