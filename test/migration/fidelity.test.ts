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
import { ReqClient } from '../support/zmq-client.js';
import { waitFor, type Edits } from '../flags/helpers.js';

const TOLERANCE_S = 1;
let stack: MigrationStack;

beforeAll(async () => {
  stack = await startMigrationStack(SHADOW_ALL, { services: { 'contextual-memory': { replies: 'as-deployed' } } }, { contextualMode: 'as-deployed' });
});
afterAll(async () => {
  await stack?.close();
});

const q = JSON.stringify;
const TYPES = ['code', 'user_query', 'system_response', 'error'];
const BUDGETS = ['', ', "max_tokens": null', ', "max_tokens": 2000', ', "max_tokens": 40', ', "max_tokens": 10', ', "max_tokens": 3', ', "max_tokens": 7.5'];

/** One agent's requests, as raw JSON text (floats spelt as a Python agent spells them). */
function contextualAgent(sid: string): string[] {
  const out: string[] = [];
  for (let k = 0; k < 64; k++) {
    const type = TYPES[k % 4]!;
    const content = type === 'code' ? `def f${k}():\n    return db.query("SELECT ${k}")  # http thread` : `${type} ${k} ${'words '.repeat(k % 30)}`;
    const metadata = k % 3 === 0 ? ', "metadata": {"line": 3.0, "weight": 1e-05}' : '';
    out.push(`{"action": "add_interaction", "session_id": ${q(sid)}, "type": "${type}", "content": ${q(content)}${metadata}}`);
    if (k % 7 === 3) out.push(`{"action": "record_decision", "session_id": ${q(sid)}, "decision": "decision ${k}"}`);
    if (k % 5 === 4) out.push(`{"action": "get_context", "session_id": ${q(sid)}${BUDGETS[((k / 5) % BUDGETS.length) | 0]}}`);
  }
  return out;
}

function sessionAgent(sid: string): string[] {
  const out = [`{"action": "create_session", "session_id": ${q(sid)}, "user_id": "u-${sid}", "metadata": {"score": 0.5}}`];
  for (let k = 0; k < 30; k++) {
    out.push(
      `{"action": "add_interaction", "session_id": ${q(sid)}, "role": "${k % 2 ? 'assistant' : 'user'}", "content": ${q(`turn ${k} ${'x'.repeat(k * 7)}`)}}`,
    );
    if (k % 4 === 3) out.push(`{"action": "get_context", "session_id": ${q(sid)}${['', ', "max_tokens": 10', ', "max_tokens": 200'][k % 3]}}`);
  }
  return out;
}

function jarvisAgent(user: string): string[] {
  const out: string[] = [];
  for (let k = 0; k < 20; k++) {
    out.push(
      `{"action": "add_memory", "user_id": ${q(user)}, "memory": {"n": 3.0, "tiny": 1e-05, "big": 25000000000.0, "k": ${k}, "text": "memory ${k} caf\\u00e9"}}`,
    );
    if (k % 3 === 2) out.push(`{"action": "get_memories", "user_id": ${q(user)}}`);
  }
  return out;
}

async function run(endpoint: string, requests: string[]): Promise<string[]> {
  const c = new ReqClient(endpoint, 10_000);
  try {
    const replies: string[] = [];
    for (const r of requests) replies.push((await c.raw(r)).toString('utf8'));
    return replies;
  } finally {
    c.close();
  }
}

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
  await Promise.all([
    ...CONTEXTUAL.map((s) => run(fronts['contextual-memory']!, contextualAgent(s))),
    ...SESSIONS.map((s) => run(fronts['session-memory']!, sessionAgent(s))),
    ...USERS.map((u) => run(fronts['jarvis-memory']!, jarvisAgent(u))),
  ]);
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
