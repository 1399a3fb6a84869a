/**
 * Backfill keeps the legacy times exactly: a legacy history made by realistic agents (contextual sessions past 50
 * interactions whose snapshots were cut by reads, decisions, session interactions, jarvis memories with floats)
 * is backfilled, and every read then rebuilt from the orchestrator is the legacy service's reply, byte for byte,
 * times included (no tolerance).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { backfill } from '../../src/backfill/backfill.js';
import { createLeg } from '../../src/legs/index.js';
import type { Leg } from '../../src/legs/types.js';
import { openSides, tuningOf } from '../../src/reconcile/sides.js';
import { LegOrchestratorClient } from '../../src/services/orchestrator-client.js';
import { openStore, type Store } from '../../src/store/index.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { SIM_SERVICES } from '../../src/tools/sim/services.js';
import { pyDumps } from '../../src/util/pyjson.js';
import { freshDatabaseUrl } from '../support/database.js';
import { configFor, startSims } from '../support/stack.js';
import { createTranslators } from '../support/translators.js';
import { q, run, runAgents } from '../support/workload.js';

const CONTEXTUAL = ['u0_project', 'u1_2026-11-22'];
const SESSIONS = ['history-0', 'history-1'];
const USERS = ['user-0', 'user-1'];

let dir: string;
let sims: SimHandle;
let store: Store;
let leg: Leg;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'memshift-backfill-times-'));
  const orchestratorUrl = await freshDatabaseUrl();
  const stateUrl = await freshDatabaseUrl();
  sims = await startSims({ storage: { dataDir: dir, orchestratorDatabaseUrl: orchestratorUrl, writeDelayMs: 10 } });
  // The history, written to the legacy services alone.
  await runAgents(sims.endpoints, { contextual: CONTEXTUAL, sessions: SESSIONS, users: USERS });
  await sims.flush();
  store = await openStore({ url: stateUrl });
  const config = configFor(sims, stateUrl, { reconcile: { legacyDataDir: dir, orchestratorDatabaseUrl: orchestratorUrl, recheckDelayMs: 200 } });
  for (const service of SIM_SERVICES) {
    const sides = await openSides(config, service, store.idMap);
    try {
      const result = await backfill({
        service,
        pool: store.pool,
        legacy: await sides.legacy.ready,
        new: sides.new,
        writer: sides.writers!.new!,
        batchSize: 100,
        recordsPerSecond: 0,
        concurrency: 4,
        reconcileTuning: { ...tuningOf(config), timeToleranceS: 0 },
      });
      // The closing reconciliation compares times exactly here.
      expect(result.reconcile!.remaining, service).toBe(0);
    } finally {
      await sides.close();
    }
  }
  leg = createLeg(sims.endpoints.orchestrator, { timeoutMs: 5000, breaker: { failureThreshold: 5, openMs: 500 } });
}, 180_000);

afterAll(async () => {
  await leg?.close();
  await sims?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('rebuilt replies equal the legacy bytes, times exactly, for every service', async () => {
  const translators = createTranslators(new LegOrchestratorClient(leg), store.idMap);
  const reads: [(typeof SIM_SERVICES)[number], string][] = [
    // A budget the snapshots fit in: the read cuts nothing on either side.
    ...CONTEXTUAL.map((s): [(typeof SIM_SERVICES)[number], string] => [
      'contextual-memory',
      `{"action": "get_context", "session_id": ${q(s)}, "max_tokens": 1000000}`,
    ]),
    ...SESSIONS.flatMap((s): [(typeof SIM_SERVICES)[number], string][] => [
      ['session-memory', `{"action": "get_context", "session_id": ${q(s)}}`],
      ['session-memory', `{"action": "get_context", "session_id": ${q(s)}, "max_tokens": 500}`],
    ]),
    ...USERS.map((u): [(typeof SIM_SERVICES)[number], string] => ['jarvis-memory', `{"action": "get_memories", "user_id": ${q(u)}}`]),
  ];
  for (const [service, request] of reads) {
    const [legacy] = await run(sims.endpoints[service], [request]);
    const rebuilt = pyDumps(await translators[service].handle(JSON.parse(request) as { action: string }, { createMissing: false }));
    expect(rebuilt, `${service} ${request}`).toBe(legacy);
    // The reply really carries times (a snapshot past 50 interactions has its last_updated).
    expect(legacy).toMatch(/"(timestamp|last_updated)": /);
  }
});
