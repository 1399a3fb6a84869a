/**
 * Kinds of mismatch end to end: one divergence of each kind planted between the legacy simulator's store and
 * the orchestrator, read by an agent through the proxy; each is reported under its kind in the admin API,
 * the metrics and the daily report.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MISMATCH_KINDS, type MismatchKind } from '../../src/comparison/compare.js';
import { utcDate, type ReportData } from '../../src/report/index.js';
import { pyLoads } from '../../src/util/pyjson.js';
import type { JarvisEntry } from '../../src/tools/sim/jarvis-memory.js';
import { SHADOW_ALL, startMigrationStack, type MigrationStack } from '../support/migration.js';
import { q, run } from '../support/workload.js';

const TOKEN = 'kinds-test-token';
const S = 'jarvis-memory';
let stack: MigrationStack;

beforeAll(async () => {
  stack = await startMigrationStack(SHADOW_ALL, { admin: { token: TOKEN } });
});
afterAll(async () => {
  await stack?.close();
});

// Numbers as Python wrote them (lossless): the stamp 10 s apart is beyond the time tolerance, 3.0 is not 3.
const T = pyLoads('1763850000.25');
const LATER = pyLoads('1763850010.25');
const entry = (memory: unknown, timestamp: unknown = T): JarvisEntry => ({ timestamp: timestamp as number, memory });

// Per kind: what legacy holds and what the orchestrator holds for one user.
const PLANTED: Record<MismatchKind, { legacy: JarvisEntry[]; fresh: JarvisEntry[] }> = {
  missing_on_new: { legacy: [entry('a'), entry('b')], fresh: [entry('a')] },
  extra_on_new: { legacy: [entry('a')], fresh: [entry('a'), entry('b')] },
  // Legacy keeps records as appended (a clock that stepped back), the orchestrator in time order.
  order: { legacy: [entry('b', LATER), entry('a')], fresh: [entry('a'), entry('b', LATER)] },
  timestamp: { legacy: [entry('a')], fresh: [entry('a', LATER)] },
  number_spelling: { legacy: [entry(pyLoads('3.0'))], fresh: [entry(pyLoads('3'))] },
  type: { legacy: [entry('3')], fresh: [entry(pyLoads('3'))] },
  content: { legacy: [entry({ text: 'call mom' })], fresh: [entry({ text: 'call dad' })] },
};

it('each planted kind of difference is reported under its kind: admin API, metrics, daily report', async () => {
  const translator = stack.proxy.runner.translators[S]!;
  for (const [kind, { legacy, fresh }] of Object.entries(PLANTED)) {
    const user = `kinds-${kind}`;
    stack.sims.models[S].users.set(user, legacy);
    for (const e of fresh) await translator.handle({ action: 'add_memory', user_id: user, memory: e.memory }, { createMissing: true, stamp: e.timestamp });
  }
  const replies = await run(
    stack.proxy.fronts[S]!,
    Object.keys(PLANTED).map((kind) => q({ action: 'get_memories', user_id: `kinds-${kind}` })),
  );
  expect(replies.every((r) => r.startsWith('{"status": "ok"'))).toBe(true);
  const totals = stack.proxy.runner.stats.of(S);
  for (const deadline = Date.now() + 20_000; totals.mismatches < MISMATCH_KINDS.length && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 50));

  const admin = (path: string) => fetch(`${stack.proxy.httpUrl}/admin${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const status = (await (await admin('/status')).json()) as { services: Record<string, { comparisons: { kinds: Record<string, number> } }> };
  const metrics = await (await fetch(`${stack.proxy.httpUrl}/metrics`)).text();
  await stack.proxy.store.flush();
  const report = (await (await admin(`/reports/${utcDate(new Date())}.json`)).json()) as ReportData;
  const reported = report.services.find((s) => s.service === S)!.comparison.kinds;
  for (const kind of MISMATCH_KINDS) {
    // One user per kind, each showing that kind alone.
    expect.soft(status.services[S]!.comparisons.kinds[kind], `admin status, ${kind}`).toBe(1);
    expect.soft(reported[kind], `report, ${kind}`).toBe(1);
    expect.soft(metrics, `metrics, ${kind}`).toMatch(new RegExp(`^memshift_mismatch_kinds_total\\{[^}]*kind="${kind}"[^}]*\\} 1$`, 'm'));
  }
  expect(Object.keys(reported).sort()).toEqual([...MISMATCH_KINDS].sort());
}, 60_000);
