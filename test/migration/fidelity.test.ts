/**
 * Fidelity acceptance: a realistic mixed workload (contextual sessions past 50 interactions with decisions and
 * small, odd and absent budgets; floats in jarvis memories) against simulators in as-deployed mode. Shadow reads
 * on all three services find 0 mismatches with timestamps compared to 1 s, and at read-new 100% the replies
 * are the legacy service's bytes with only the timestamps allowed to differ, by at most 1 s.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { flagName } from '../../src/flags/names.js';
import { SIM_SERVICES } from '../../src/tools/sim/services.js';
import { SHADOW_ALL, startMigrationStack, type MigrationStack } from '../support/migration.js';
import { runAgents, run, q } from '../support/workload.js';
import { waitFor, type Edits } from '../flags/helpers.js';

const TOLERANCE_S = 1;
let stack: MigrationStack;

beforeAll(async () => {
  stack = await startMigrationStack(SHADOW_ALL, { services: { 'contextual-memory': { replies: 'as-deployed' } } }, { contextualMode: 'as-deployed' });
});
afterAll(async () => {
  await stack?.close();
});

const TIME = /"(timestamp|last_updated)": ("[^"]*"|[-+0-9.eE]+)/g;
const seconds = (v: string): number => (v.startsWith('"') ? Date.parse(v.slice(1, -1)) / 1000 : Number(v));

/** The two replies are the same bytes once their times are masked, and each pair of times is within the tolerance. */
function expectSameWithinTolerance(legacy: string, rebuilt: string, what: string): void {
  const masked = (s: string) => s.replace(TIME, (_, key: string) => `"${key}": <t>`);
  expect(masked(rebuilt), what).toBe(masked(legacy));
  const a = [...legacy.matchAll(TIME)].map((m) => m[2]!);
  const b = [...rebuilt.matchAll(TIME)].map((m) => m[2]!);
  a.forEach((v, i) => {
    // Same kind of value (a float time stays a float, an ISO string a string), within the tolerance.
    expect(/[".]/.exec(b[i]!)?.[0], `${what}: ${v} vs ${b[i]}`).toBe(/[".]/.exec(v)?.[0]);
    expect(Math.abs(seconds(v) - seconds(b[i]!)), `${what}: ${v} vs ${b[i]}`).toBeLessThanOrEqual(TOLERANCE_S);
  });
}

const CONTEXTUAL = Array.from({ length: 6 }, (_, i) => `u${i}_project`);
const SESSIONS = Array.from({ length: 6 }, (_, i) => `fidelity-${i}`);
const USERS = Array.from({ length: 6 }, (_, i) => `user-${i}`);

it('shadow-read 100% on all three services: 0 mismatches over the mixed workload, every kind of read compared', async () => {
  const fronts = stack.proxy.fronts;
  await runAgents(fronts, { contextual: CONTEXTUAL, sessions: SESSIONS, users: USERS });
  await stack.proxy.runner.secondary.drain();
  const totals = (s: string) => stack.proxy.runner.stats.of(s);
  // Mutating contextual reads are compared when they land on the other side.
  await waitFor(() => totals('contextual-memory').compared + totals('contextual-memory').skipped >= CONTEXTUAL.length * 12, 30_000);
  // Reads skipped for a write of theirs still in flight get their comparison here, once the writes settled.
  await Promise.all([
    ...SESSIONS.map((s) =>
      run(
        fronts['session-memory']!,
        ['', ', "max_tokens": 10', ', "max_tokens": 200'].map((b) => `{"action": "get_context", "session_id": ${q(s)}${b}}`),
      ),
    ),
    ...USERS.map((u) => run(fronts['jarvis-memory']!, [`{"action": "get_memories", "user_id": ${q(u)}}`])),
  ]);
  for (const s of SIM_SERVICES) {
    expect.soft(totals(s).mismatches, `${s}: ${JSON.stringify(totals(s).fields)}`).toBe(0);
    expect.soft(totals(s).secondaryFailed, `${s} secondary failures`).toBe(0);
  }
  // Every contextual read (12 an agent), and at least the settled reads of the other two.
  expect(totals('contextual-memory').compared).toBe(CONTEXTUAL.length * 12);
  expect(totals('session-memory').compared).toBeGreaterThanOrEqual(SESSIONS.length * 3);
  expect(totals('jarvis-memory').compared).toBeGreaterThanOrEqual(USERS.length);
}, 180_000);

it('read-new 100%: the replies rebuilt from the orchestrator are the legacy bytes, timestamps within 1 s', async () => {
  const edits: Edits = { ...SHADOW_ALL };
  for (const s of SIM_SERVICES) edits[flagName(s, 'read-new')] = { enabled: true, rollout: 100 };
  await stack.setFlags(edits);
  const direct = stack.sims.endpoints;
  const fronts = stack.proxy.fronts;
  const reads: [string, string][] = [
    // A budget the snapshots fit in: reading changes nothing, so legacy can be asked twice.
    ...CONTEXTUAL.map((s): [string, string] => ['contextual-memory', `{"action": "get_context", "session_id": ${q(s)}, "max_tokens": 1000000}`]),
    ['contextual-memory', '{"action": "get_context", "session_id": "nobody_here"}'],
    ...SESSIONS.flatMap((s): [string, string][] => [
      ['session-memory', `{"action": "get_context", "session_id": ${q(s)}}`],
      ['session-memory', `{"action": "get_context", "session_id": ${q(s)}, "max_tokens": 50}`],
    ]),
    ...USERS.map((u): [string, string] => ['jarvis-memory', `{"action": "get_memories", "user_id": ${q(u)}}`]),
  ];
  const before = stack.proxy.runner.stats.of('session-memory').servedFromNew;
  for (const [service, request] of reads) {
    const [legacy] = await run(direct[service as 'session-memory']!, [request]);
    const [rebuilt] = await run(fronts[service]!, [request]);
    expectSameWithinTolerance(legacy!, rebuilt!, `${service} ${request}`);
  }
  expect(stack.proxy.runner.stats.of('session-memory').servedFromNew - before).toBe(SESSIONS.length * 2);
}, 120_000);
