/**
 * The alerts and the Grafana dashboard against the real thing: `promtool check rules` (Debian's prometheus)
 * accepts the rules, the PrometheusRule holds the same groups, the dashboard has a panel for every metric
 * family memshift exports, and every metric name a rule or panel uses appears in a real /metrics scrape of a
 * run that makes every family count (divergence, noise, given-up re-checks, fallbacks, unknown outcomes, a
 * reconciliation with differences left).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { flagName } from '../../src/flags/names.js';
import { ReconcileRuns } from '../../src/reconcile/runs.js';
import { runTraffic } from '../../src/tools/demo/traffic.js';
import { SHADOW_ALL, startMigrationStack, type MigrationStack } from '../support/migration.js';

const RULES = 'deploy/prometheus/memshift-rules.yaml';
const OPERATOR_RULE = 'deploy/kubernetes/monitoring/prometheusrule.yaml';
const DASHBOARD = 'deploy/grafana/memshift-dashboard.json';
/** Prometheus' own series, not memshift's. */
const BUILT_IN = new Set(['up']);

const rulesDoc = parse(readFileSync(RULES, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
const exprs = [...rulesDoc.groups.flatMap((g) => g.rules.map((r) => r.expr)), ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr))];
/** Metric names in PromQL: identifiers followed by a selector, a range or a closing bracket, keywords aside. */
const namesIn = (expr: string) => [...expr.matchAll(/\b(memshift_[a-z0-9_]+|up)\b/g)].map((m) => m[1]!);
const used = [...new Set(exprs.flatMap(namesIn))].filter((n) => !BUILT_IN.has(n));
const missingFrom = (text: string) => used.filter((n) => !new RegExp(`^${n}(\\{| )`, 'm').test(text));

let stack: MigrationStack;
let scrape = '';

beforeAll(async () => {
  stack = await startMigrationStack(
    {
      ...SHADOW_ALL,
      // jarvis-memory at cutover: some reads served from new, some falling back.
      [flagName('jarvis-memory', 'read-new')]: { enabled: true, rollout: 50 },
    },
    // Re-checks given up at once: their counter counts. Replies over 600 bytes too large to compare: theirs too.
    { shadow: { recheck: { maxDelayMs: 1 }, maxCompareBytes: 600 } },
    { faults: { 'jarvis-memory': { counterField: 'served' } } },
  );
  const fronts = stack.proxy.fronts;
  // Failing often enough that some of jarvis-memory's reads from new fall back to legacy.
  await stack.sims.applyFaults('orchestrator', { divergence: { rate: 0.3, mode: 'alter' }, errorRate: 0.2 });
  await runTraffic({ fronts, agents: 8, requests: 600, prefix: 'mon', seed: 6 });
  // Clean again until the orchestrator's breaker has closed (it opened on the errors), then hung past the leg
  // timeout (2 s) for a while: unknown outcomes, settled by look-ups once it answers again.
  await stack.sims.applyFaults('orchestrator', { divergence: { rate: 0 }, errorRate: 0 });
  await runTraffic({ fronts, agents: 4, requests: 100, prefix: 'mon', seed: 8 });
  await stack.sims.applyFaults('orchestrator', { hang: true });
  await runTraffic({ fronts, agents: 4, requests: 100, prefix: 'mon', seed: 7, timeoutMs: 10_000 });
  const unknowns = () => ['session-memory', 'jarvis-memory', 'contextual-memory'].reduce((n, s) => n + stack.proxy.runner.stats.of(s).unknownOutcomes, 0);
  for (const deadline = Date.now() + 15_000; unknowns() === 0 && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 100));
  await stack.sims.applyFaults('orchestrator', { hang: false });
  await stack.proxy.runner.secondary.drain();
  const runs = new ReconcileRuns(stack.proxy.store.pool, { retentionMs: 3_600_000 });
  const run = await runs.start('jarvis-memory', { trigger: 'manual', stage: 'shadow', truth: 'legacy', repair: false });
  await runs.saveDifferences(run.id, [{ key: 'u1', kind: 'missing_in_new', diffs: [] }]);
  await runs.finish(run.id, { status: 'done', converged: 0, repaired: 0, repairFailed: 0, sampleSize: 20 });
  // Look-ups settle the unknown outcomes a little later: scrape until every name is there (or the deadline says which is not).
  for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
    scrape = await (await fetch(`${stack.proxy.httpUrl}/metrics`)).text();
    if (missingFrom(scrape).length === 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
}, 120_000);
afterAll(async () => {
  await stack?.close();
});

it('promtool accepts the rules, and the PrometheusRule holds the same groups', () => {
  const out = execFileSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
  expect(out).toMatch(new RegExp(`SUCCESS: ${rulesDoc.groups.flatMap((g) => g.rules).length} rules found`));
  const operator = parse(readFileSync(OPERATOR_RULE, 'utf8')) as { kind: string; spec: unknown };
  expect(operator.kind).toBe('PrometheusRule');
  expect(operator.spec).toEqual(rulesDoc);
  expect(rulesDoc.groups[0]!.rules.map((r) => r.alert).sort()).toEqual(
    [
      'MemshiftAgentErrors',
      'MemshiftFleetSettingsDiffer',
      'MemshiftFlagsNotInUnleash',
      'MemshiftGuardTripped',
      'MemshiftKeysReordered',
      'MemshiftMismatchRateHigh',
      'MemshiftNewSideErrors',
      'MemshiftOutboxOldWrites',
      'MemshiftParkedWrites',
      'MemshiftReconcileDifferences',
      'MemshiftReplicaDown',
      'MemshiftStaleReads',
      'MemshiftUnleashUnanswered',
      'MemshiftWritesAssumedApplied',
    ].sort(),
  );
});

it('every metric name a rule or panel uses appears in a real scrape', () => {
  expect(used.length).toBeGreaterThan(15);
  expect(missingFrom(scrape)).toEqual([]);
});

it('adds up no gauge that every replica reads from the shared store (a fleet of three would show three times the backlog)', () => {
  // Each replica reports these from the store's tables, not from its own work.
  const fleetWide = [
    'memshift_outbox_depth',
    'memshift_outbox_parked',
    'memshift_outbox_oldest_age_seconds',
    'memshift_reconcile_remaining',
    'memshift_side_behind',
  ];
  const summed = exprs.filter((e) => fleetWide.some((name) => new RegExp(`\\bsum\\b(\\s*(by|without)\\s*\\([^)]*\\))?\\s*\\([^()]*\\b${name}\\b`).test(e)));
  expect(summed).toEqual([]);
  expect(exprs.filter((e) => fleetWide.some((name) => e.includes(name))).length).toBeGreaterThanOrEqual(fleetWide.length);
});

it('the dashboard has a panel for every metric family memshift exports', () => {
  const families = [...scrape.matchAll(/^# TYPE (memshift_[a-z0-9_]+) (\w+)/gm)].map((m) => m[1]!);
  expect(families.length).toBeGreaterThan(15);
  const panelled = new Set(exprs.flatMap(namesIn).map((n) => n.replace(/_(bucket|count|sum)$/, '')));
  expect(families.filter((f) => !panelled.has(f))).toEqual([]);
});
