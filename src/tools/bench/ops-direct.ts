/** The per-operation bench's direct path: a legacy read's memories asked of the orchestrator simulator in one batch_read. */
import pg from 'pg';
import { pyDumps } from '../../util/pyjson.js';
import { sendInTurn } from './load.js';
import type { SimService as ServiceName } from '../sim/services.js';

export interface DirectReadsOptions {
  service: ServiceName;
  /** The legacy keys whose histories were written (one per size). */
  keys: string[];
  /** The legacy read request for a key. */
  read(key: string): string;
  legacy: string;
  orchestrator: string;
  /** memshift's state database, holding its id map. */
  state: string;
}

/**
 * For each key, a batch_read straight to the orchestrator of the memories legacy's reply to the read holds (the
 * newest, one page): the session found through memshift's id map, the count from legacy's reply, checked once.
 */
export async function directReads(o: DirectReadsOptions): Promise<string[]> {
  const { service: s, legacy, orchestrator } = o;
  const ask = async (endpoint: string, request: string) => JSON.parse((await sendInTurn(endpoint, [request]))!.toString()) as unknown;
  const sessions = await orchestratorSessions(o.state, s, o.keys);
  return Promise.all(
    o.keys.map(async (key) => {
      const session = sessions.get(key);
      if (!session) throw new Error(`ops bench: no orchestrator session for ${s} ${key}`);
      const limit = itemsOf(s, await ask(legacy, o.read(key)));
      const request = pyDumps({
        action: 'batch_read',
        session_id: session,
        payload: { filter: { sort: { field: 'created_at', order: 'desc' }, limit } },
        request_id: 'req-0000ops0',
        timestamp: new Date().toISOString(),
      });
      const memories = ((await ask(orchestrator, request)) as { data?: { memories?: unknown[] } }).data?.memories;
      if (memories?.length !== limit) throw new Error(`ops bench: the orchestrator gave ${memories?.length} memories of ${s} ${key}, legacy ${limit}`);
      return request;
    }),
  );
}

/** The orchestrator session of each key, from memshift's id map: one query (a pg client runs one at a time). */
async function orchestratorSessions(state: string, s: ServiceName, keys: string[]): Promise<Map<string, string>> {
  const db = new pg.Client({ connectionString: state });
  await db.connect();
  try {
    const { rows } = await db.query<{ key: string; id: string }>(
      'SELECT legacy_key AS key, orchestrator_session_id AS id FROM id_map WHERE service = $1 AND legacy_key = ANY($2::text[])',
      [s, keys],
    );
    return new Map(rows.map((r) => [r.key, r.id]));
  } finally {
    await db.end();
  }
}

/**
 * How many memories a legacy read reply holds: a context's interactions, a user's memories, or one (contextual
 * memory answers with its stored snapshot, one memory on the new side).
 */
function itemsOf(s: ServiceName, reply: unknown): number {
  if (s === 'contextual-memory') return 1;
  const r = reply as { context?: unknown; memories?: unknown } | null;
  const items = s === 'session-memory' ? r?.context : r?.memories;
  if (!Array.isArray(items)) throw new Error(`ops bench: unexpected ${s} reply`);
  return items.length;
}
