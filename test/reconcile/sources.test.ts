/**
 * The simulators' storage in the real formats, and the source readers on both sides: writes made on a legacy
 * simulator and copied through the translator as the backfill copies them (times included) read back as equal
 * canonical records (equal checksums), a divergent write shows, and a restarted simulator finds its state again.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLeg } from '../../src/legs/index.js';
import type { Leg } from '../../src/legs/types.js';
import { SIM_SERVICES, type SimService as ServiceName } from '../../src/tools/sim/services.js';
import { LegOrchestratorClient } from '../../src/services/orchestrator-client.js';
import { createTranslators } from '../support/translators.js';
import type { LegacyRequest, Translator } from '../../src/services/types.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { jsonbText } from '../../src/reconcile/canonical.js';
import { namedView } from '../../src/services/records.js';
import { serviceOf } from '../../src/services/registry.js';
import { legacyPath, openLegacySource } from '../../src/reconcile/legacy.js';
import { openOrchestratorSource } from '../../src/reconcile/orchestrator.js';
import { syncKey } from '../../src/reconcile/repair.js';
import { diffRecord } from '../../src/reconcile/diff.js';
import { pyDumps, pyLoads } from '../../src/util/pyjson.js';
import { sameChecksum } from '../../src/reconcile/source.js';
import { openStore, type Store } from '../../src/store/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { startSims } from '../support/stack.js';
import { send } from '../sim/helpers.js';

let dir: string;
let url: string;
let sims: SimHandle;
let store: Store;
let leg: Leg;
let translators: Record<ServiceName, Translator>;

const storage = () => ({ dataDir: dir, orchestratorDatabaseUrl: url, writeDelayMs: 10 });

/** The write on the legacy simulator; copied to the orchestrator once all are made (copyAll). */
async function both(service: ServiceName, request: LegacyRequest): Promise<void> {
  await send(sims.endpoints[service], request);
}

/** Rows of a SQLite file as Python's sqlite3 reads them (a copy of its bytes, so what was on disk at that moment). */
function sqliteRows(bytes: Buffer, sql: string): unknown[][] {
  const copy = join(dir, `read-${Math.random()}.db`);
  writeFileSync(copy, bytes);
  const out = execFileSync('python3', [
    '-c',
    'import json, sqlite3, sys\nprint(json.dumps(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchall()))',
    copy,
    sql,
  ]);
  rmSync(copy);
  return JSON.parse(out.toString()) as unknown[][];
}

/** Every legacy record copied through the translator with its legacy times, as the backfill copies it. */
async function copyAll(): Promise<void> {
  for (const service of SIM_SERVICES) {
    const legacy = await openLegacySource(service, legacyPath(service, dir));
    const writer = { send: async (r: LegacyRequest, stamp?: unknown) => void (await translators[service].handle(r, { createMissing: true, stamp })) };
    for (const record of await legacy.records({})) await syncKey(service, record.key, record, undefined, writer);
    await legacy.close();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'memshift-sources-'));
  url = await freshDatabaseUrl();
  store = await openStore({ url });
  sims = await startSims({ storage: storage() });
  leg = createLeg(sims.endpoints.orchestrator, { timeoutMs: 2000, breaker: { failureThreshold: 5, openMs: 500 } });
  translators = createTranslators(new LegOrchestratorClient(leg), store.idMap);
  for (let i = 0; i < 20; i++) {
    // Values that exercise the digest's jsonb emulation: escapes, non-ASCII, astral characters, exponents.
    await both('session-memory', { action: 'create_session', session_id: `s${i}`, user_id: `u${i}`, metadata: { n: i, tiny: 1e-7, f: 0.1, e: 2.5e-5 } });
    await both('session-memory', {
      action: 'add_interaction',
      session_id: `s${i}`,
      role: 'user',
      content: `hi "${i}"\n\té 😀 \u0001`,
      metadata: { tags: ['t'] },
    });
    await both('session-memory', { action: 'add_interaction', session_id: `s${i}`, role: 'assistant', content: `reply ${i}` });
    await both('contextual-memory', {
      action: 'add_interaction',
      session_id: `u_${i}`,
      type: 'code',
      content: `SELECT ${i}`,
      metadata: { file: 'a.py', bb: 1, a: [1, 2] },
    });
    await both('contextual-memory', { action: 'add_interaction', session_id: `u_${i}`, type: 'user_query', content: `why ${i}?` });
    await both('contextual-memory', { action: 'record_decision', session_id: `u_${i}`, decision: `use ${i}` });
    await both('jarvis-memory', { action: 'add_memory', user_id: `j${i}`, memory: { type: 'reminder', text: `call ${i}`, at: 1.25 } });
    await both('jarvis-memory', { action: 'add_memory', user_id: `j${i}`, memory: `plain ${i}` });
  }
  await sims.flush();
  await copyAll();
}, 60_000);

afterAll(async () => {
  await leg?.close();
  await sims?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('simulator storage in the legacy formats', () => {
  it('writes session_memory.db, contextual_memory_store.json and jarvis_memory_store.json as the services do', async () => {
    const db = readFileSync(legacyPath('session-memory', dir));
    // json.dumps of what the agent read: Python's separators and float spelling.
    expect(sqliteRows(db, "SELECT session_id, user_id, metadata FROM sessions WHERE session_id = 's3'")).toEqual([
      ['s3', 'u3', '{"n": 3, "tiny": 1e-07, "f": 0.1, "e": 2.5e-05}'],
    ]);
    expect(sqliteRows(db, "SELECT role, content FROM interactions WHERE session_id = 's3' ORDER BY id")).toEqual([
      ['user', 'hi "3"\n\té 😀 \u0001'],
      ['assistant', 'reply 3'],
    ]);

    const contextual = JSON.parse(readFileSync(legacyPath('contextual-memory', dir), 'utf8'));
    expect(contextual.sessions.u_3.map((i: { type: string }) => i.type)).toEqual(['user_query', 'code']);
    expect(contextual.summaries.u_3.key_decisions.map((d: { decision: string }) => d.decision)).toEqual(['use 3']);
    const jarvis = JSON.parse(readFileSync(legacyPath('jarvis-memory', dir), 'utf8'));
    expect(jarvis.j3.map((m: { memory: unknown }) => m.memory)).toEqual([{ type: 'reminder', text: 'call 3', at: 1.25 }, 'plain 3']);
    expect(typeof jarvis.j3[0].timestamp).toBe('number');
  });

  // The agents commit (SessionMemoryAgent) or rewrite their file (the other two) before they answer: a write a
  // simulator acknowledged at memory speed and saved later would make direct legacy writes look far cheaper.
  it('a legacy write is in its file by the time the simulator replies', async () => {
    const own = join(dir, 'own');
    const fresh = await startSims({ storage: { dataDir: own } });
    try {
      await send(fresh.endpoints['session-memory'], { action: 'create_session', session_id: 'now', user_id: 'u' });
      await send(fresh.endpoints['session-memory'], { action: 'add_interaction', session_id: 'now', role: 'user', content: 'just now' });
      const db = readFileSync(legacyPath('session-memory', own));
      await send(fresh.endpoints['jarvis-memory'], { action: 'add_memory', user_id: 'j', memory: 'just now' });
      const jarvis = readFileSync(legacyPath('jarvis-memory', own), 'utf8');
      await send(fresh.endpoints['contextual-memory'], { action: 'record_decision', session_id: 'u', decision: 'just now' });
      const contextual = readFileSync(legacyPath('contextual-memory', own), 'utf8');
      expect(sqliteRows(db, "SELECT content FROM interactions WHERE session_id = 'now'")).toEqual([['just now']]);
      expect(JSON.parse(jarvis).j[0].memory).toBe('just now');
      expect(JSON.parse(contextual).summaries.u.key_decisions[0].decision).toBe('just now');
    } finally {
      await fresh.close();
    }
  });

  it('a restarted simulator serves what it had stored, on both sides', async () => {
    await sims.close();
    sims = await startSims({ storage: storage() });
    await leg.close();
    leg = createLeg(sims.endpoints.orchestrator, { timeoutMs: 2000, breaker: { failureThreshold: 5, openMs: 500 } });
    translators = createTranslators(new LegOrchestratorClient(leg), store.idMap);
    const legacy = await send(sims.endpoints['session-memory'], { action: 'get_context', session_id: 's7' });
    expect(legacy.context.map((c: { content: string }) => c.content)).toEqual(['hi "7"\n\té 😀 \u0001', 'reply 7']);
    const rebuilt = (await translators['session-memory'].handle({ action: 'get_context', session_id: 's7' }, { createMissing: false })) as typeof legacy;
    expect(rebuilt.context.map((c: { content: string }) => c.content)).toEqual(legacy.context.map((c: { content: string }) => c.content));
    expect((await send(sims.endpoints['jarvis-memory'], { action: 'get_memories', user_id: 'j7' })).memories).toHaveLength(2);
    expect((await send(sims.endpoints['contextual-memory'], { action: 'get_context', session_id: 'u_7' })).key_decisions).toHaveLength(1);
  });
});

describe('source readers', () => {
  it.each(SIM_SERVICES)('%s: both sides read the same writes as equal records with equal checksums', async (service) => {
    const legacy = await openLegacySource(service, legacyPath(service, dir));
    const neu = openOrchestratorSource(service, url);
    try {
      const [l] = await legacy.checksums([{}]);
      const [n] = await neu.checksums([{}]);
      expect(l!.count).toBe(20);
      expect(sameChecksum(l!, n!)).toBe(true);
      const [lr, nr] = await Promise.all([legacy.records({}), neu.records({})]);
      // Equal as Python reads them (jsonb spells 1e+21 out; both are the same float), times exactly.
      expect(nr.map((r) => r.key)).toEqual(lr.map((r) => r.key));
      const diffs = lr.flatMap((r, i) => diffRecord(service, r.key, r, nr[i], { maxFieldDiffs: 5, timeToleranceS: 0 }) ?? []);
      expect(JSON.parse(pyDumps(diffs))).toEqual([]);
      // Key order is code point order on both sides, records in the legacy shape.
      expect(lr.map((r) => r.key)).toEqual([...lr.map((r) => r.key)].sort());
      const keys = lr.map((r) => r.key);
      expect((await neu.records({ from: keys[5], to: keys[9] })).map((r) => r.key)).toEqual(keys.slice(5, 9));
      expect(await legacy.records({}, { after: keys[17], limit: 5 })).toEqual(lr.slice(18));
    } finally {
      await Promise.all([legacy.close(), neu.close()]);
    }
  });

  it('shapes the records as the legacy service holds them', async () => {
    const legacy = await openLegacySource('contextual-memory', legacyPath('contextual-memory', dir));
    const [r] = await legacy.recordsOf(['u_4']);
    expect(JSON.parse(pyDumps(namedView(serviceOf('contextual-memory').record, r!)))).toEqual({
      // A decision started the snapshot; it holds nothing else yet (the decisions are the second list).
      snapshot: {},
      interactions: [
        { type: 'code', content: 'SELECT 4', metadata: { file: 'a.py', bb: 1, a: [1, 2] }, timestamp: expect.any(Number) },
        { type: 'user_query', content: 'why 4?', metadata: {}, timestamp: expect.any(Number) },
      ],
      decisions: [{ decision: 'use 4', timestamp: expect.any(Number) }],
    });
    await legacy.close();
  });

  it('a divergent write changes the checksum of exactly its range', async () => {
    await translators['jarvis-memory'].handle({ action: 'add_memory', user_id: 'j12', memory: 'only new' }, { createMissing: true });
    await sims.flush();
    const legacy = await openLegacySource('jarvis-memory', legacyPath('jarvis-memory', dir));
    const neu = openOrchestratorSource('jarvis-memory', url);
    try {
      const ranges = [{ to: 'j12' }, { from: 'j12', to: 'j13' }, { from: 'j13' }];
      const [l, n] = await Promise.all([legacy.checksums(ranges), neu.checksums(ranges)]);
      expect(ranges.map((_, i) => sameChecksum(l[i]!, n[i]!))).toEqual([true, false, true]);
      expect(n[1]!.count).toBe(1);
    } finally {
      await Promise.all([legacy.close(), neu.close()]);
    }
  });

  it('reads a key whose orchestrator session was made twice as its session in use, not the empty one', async () => {
    // What a create_session leaves when its reply is lost and the next write makes the session again, or two replicas
    // race to make it: an empty session of the same legacy key beside the one in use (its snapshot none, read null).
    await new LegOrchestratorClient(leg).call('create_session', undefined, { user_id: 'default', session_metadata: { legacy_session_id: 'u_4' } });
    await sims.flush();
    const legacy = await openLegacySource('contextual-memory', legacyPath('contextual-memory', dir));
    const neu = openOrchestratorSource('contextual-memory', url);
    try {
      const [[l], [n]] = await Promise.all([legacy.checksums([{}]), neu.checksums([{}])]);
      expect(sameChecksum(l!, n!)).toBe(true);
      const [[lr], [nr]] = await Promise.all([legacy.recordsOf(['u_4']), neu.recordsOf(['u_4'])]);
      expect(diffRecord('contextual-memory', 'u_4', lr, nr, { maxFieldDiffs: 5, timeToleranceS: 0 })).toBeUndefined();
    } finally {
      await Promise.all([legacy.close(), neu.close()]);
    }
  });

  it('emulates PostgreSQL jsonb text exactly', async () => {
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const values = [
        { bb: 1, a: [1, 2.5, 'x\u0001é\u2028'], c: {}, aa: 1e-7, z: 1.5e21, t: true, n: null },
        'tab\t"q"\\',
        -0.000001234,
        123456789012,
        [],
        'a😀',
      ];
      for (const v of values) {
        const { rows } = await client.query<{ t: string }>('SELECT $1::jsonb::text AS t', [JSON.stringify(v)]);
        expect(jsonbText(v)).toBe(rows[0]!.t);
      }
      // Numbers as read from an agent's store (kept as written), against what the orchestrator holds of them: the
      // translator's text (Python's spelling), as jsonb. Each spelling numeric prints otherwise, minus zeros first.
      const read = pyLoads('[-0, -0.0, 0.0, 3.0, -1.50, 1704067200.1, 1e-05, 1.5e+21, 1E5, 12345678901234567890, -0.000001234]') as unknown[];
      for (const v of read) {
        const { rows } = await client.query<{ t: string }>('SELECT $1::jsonb::text AS t', [pyDumps(v)]);
        expect(jsonbText(v), pyDumps(v)).toBe(rows[0]!.t);
      }
    } finally {
      await client.end();
    }
  });

  // Known gap: jsonb keeps a number's decimals but not its exponent, so a float Python spells 1e+21 is stored
  // as 1000000000000000000000 and any Python orchestrator reads it back as an int. Keeping it would need the
  // memory's JSON text stored beside it; until then reconciliation reports such a value, as this shows.
  it.fails('known gap: a float of 1e16 or more written by an agent reads back from the orchestrator as a float', async () => {
    await both('session-memory', { action: 'create_session', session_id: 'big', user_id: 'u', metadata: { big: 1e21 } });
    await sims.flush();
    const legacy = await openLegacySource('session-memory', legacyPath('session-memory', dir));
    const neu = openOrchestratorSource('session-memory', url);
    try {
      const [record] = await legacy.recordsOf(['big']);
      const writer = {
        send: async (r: LegacyRequest, stamp?: unknown) => void (await translators['session-memory'].handle(r, { createMissing: true, stamp })),
      };
      await syncKey('session-memory', 'big', record, undefined, writer);
      await sims.flush();
      const [copy] = await neu.recordsOf(['big']);
      expect(copy).toBeDefined();
      expect(diffRecord('session-memory', 'big', record, copy, { maxFieldDiffs: 5, timeToleranceS: 0 })).toBeUndefined();
    } finally {
      await Promise.all([legacy.close(), neu.close()]);
    }
  });

  it('reports a missing legacy store as an error', async () => {
    const missing = join(dir, 'nowhere', 'session_memory.db');
    expect(existsSync(missing)).toBe(false);
    await expect(openLegacySource('session-memory', missing)).rejects.toThrow(/ENOENT/);
  });
});
