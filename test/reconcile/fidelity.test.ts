/**
 * Reconciliation on the orchestrator's real schema (PROTOCOLS.md 2, the simulator's DDL) after a dual-write run
 * of realistic agents (contextual sessions past 50 interactions, decisions, floats): 0 differences, the
 * orchestrator's history beyond the agent's 50 counted as retained; then planted differences (a changed memory,
 * a changed timestamp, a missing and an extra record) reported exactly, and --repair brings them back to 0.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openFlags, type Flags } from '../../src/flags/source.js';
import { reconcileService } from '../../src/reconcile/sides.js';
import { openStore, type Store } from '../../src/store/index.js';
import type { SimHandle, SimOptions } from '../../src/tools/sim/index.js';
import { SIM_SERVICES } from '../../src/tools/sim/services.js';
import { freshDatabaseUrl } from '../support/database.js';
import { SHADOW_ALL, startMigrationStack } from '../support/migration.js';
import { configFor, startSims } from '../support/stack.js';
import { runAgents } from '../support/workload.js';

const CONTEXTUAL = ['u0_project', 'u1_project', 'u2_project'];
const SESSIONS = ['fidelity-0', 'fidelity-1'];
const USERS = ['user-0', 'user-1'];

let dir: string;
let orchestratorUrl: string;
let stateUrl: string;
let orchestrator: pg.Pool;
let sims: SimHandle | undefined;
let store: Store;
let flags: Flags;

const simOptions = (): SimOptions => ({ contextualMode: 'as-deployed', storage: { dataDir: dir, orchestratorDatabaseUrl: orchestratorUrl, writeDelayMs: 10 } });

/** Reconciles a service against simulators started on the stored state (what the simulators cache is reloaded). */
async function reconcile(service: string, repair = false) {
  await sims?.close();
  sims = await startSims(simOptions());
  const config = configFor(sims, stateUrl, { reconcile: { legacyDataDir: dir, orchestratorDatabaseUrl: orchestratorUrl, recheckDelayMs: 200 } });
  const result = await reconcileService(config, store, flags, service, { repair });
  await sims.flush();
  return result;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'memshift-fidelity-'));
  orchestratorUrl = await freshDatabaseUrl();
  const stack = await startMigrationStack(SHADOW_ALL, { services: { 'contextual-memory': { replies: 'as-deployed' } } }, simOptions());
  stateUrl = stack.databaseUrl;
  const fronts = stack.proxy.fronts;
  await runAgents(fronts, { contextual: CONTEXTUAL, sessions: SESSIONS, users: USERS });
  await stack.proxy.runner.secondary.drain();
  await stack.sims.flush();
  await stack.close();
  store = await openStore({ url: stateUrl });
  flags = await openFlags({ env: {} });
  orchestrator = new pg.Pool({ connectionString: orchestratorUrl, max: 2 });
}, 180_000);

afterAll(async () => {
  await sims?.close();
  await flags?.close();
  await store?.close();
  await orchestrator?.end();
  rmSync(dir, { recursive: true, force: true });
});

it("finds 0 differences after the dual-write run, and counts the history kept beyond the agent's 50 as retained", async () => {
  for (const service of SIM_SERVICES) {
    const { run: r, differences } = await reconcile(service);
    expect(differences, service).toEqual([]);
    expect(r.legacyRecords, service).toBe(service === 'contextual-memory' ? CONTEXTUAL.length : 2);
    expect(r.newRecords, service).toBe(r.legacyRecords);
    expect(r.retained, service).toBe(service === 'contextual-memory' ? CONTEXTUAL.length * (64 - 50) : 0);
  }
}, 120_000);

/** A memory of a key's orchestrator session, by its place among the key's memories of a type (oldest first). */
async function memoryId(metadataKey: string, key: string, type: string, index: number): Promise<string> {
  const { rows } = await orchestrator.query<{ memory_id: string }>(
    `SELECT m.memory_id FROM memory_entries m JOIN sessions s USING (session_id)
     WHERE s.metadata->>$1 = $2 AND m.memory_type = $3 AND m.is_active ORDER BY m.created_at, m.memory_id`,
    [metadataKey, key, type],
  );
  return rows.at(index)!.memory_id;
}

it('reports planted differences exactly (a changed memory, a changed timestamp, a missing and an extra record), and --repair fixes them', async () => {
  const changed = await memoryId('legacy_user_id', 'user-0', 'entity', 2);
  await orchestrator.query(`UPDATE memory_entries SET content = jsonb_set(content, '{metadata,memory,text}', '"changed"') WHERE memory_id = $1`, [changed]);
  const retimed = await memoryId('legacy_session_id', 'fidelity-1', 'conversation', 4);
  await orchestrator.query(`UPDATE memory_entries SET content = jsonb_set(content, '{timestamp}', '"2020-01-01T00:00:00.000001"') WHERE memory_id = $1`, [
    retimed,
  ]);
  await orchestrator.query('DELETE FROM memory_entries WHERE memory_id = $1', [await memoryId('legacy_user_id', 'user-1', 'entity', -1)]);
  const extraOf = await memoryId('legacy_session_id', 'fidelity-0', 'conversation', -1);
  await orchestrator.query(
    `INSERT INTO memory_entries (memory_id, session_id, memory_type, content, source_agent, created_at, updated_at, priority, is_active)
     SELECT 'mem-extra001', session_id, memory_type, jsonb_set(content, '{text}', '"extra"'), source_agent, created_at + interval '1 second', updated_at, priority, true
     FROM memory_entries WHERE memory_id = $1`,
    [extraOf],
  );

  const jarvis = await reconcile('jarvis-memory');
  expect(jarvis.differences.map((d) => [d.key, d.kind, d.diffs.map((f) => f.path)])).toEqual([
    ['user-0', 'differing', ['memories[2].memory.text']],
    ['user-1', 'differing', ['memories[19]']],
  ]);
  const session = await reconcile('session-memory');
  expect(session.differences.map((d) => [d.key, d.kind, d.diffs.map((f) => f.path)])).toEqual([
    ['fidelity-0', 'differing', ['interactions[30]']],
    ['fidelity-1', 'differing', ['interactions[4].timestamp']],
  ]);
  expect((await reconcile('contextual-memory')).differences).toEqual([]);

  for (const service of ['jarvis-memory', 'session-memory']) {
    const repaired = await reconcile(service, true);
    expect(repaired.remaining, service + JSON.stringify(repaired.differences)).toBe(0);
    expect((await reconcile(service)).differences, service).toEqual([]);
  }
}, 120_000);
