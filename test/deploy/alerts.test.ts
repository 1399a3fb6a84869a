/**
 * Every alert fed series by `promtool test rules` (Debian's prometheus): each fires on what should page or open a
 * ticket, and stays quiet below its threshold and before its `for`. `promtool check rules` (monitoring.test.ts)
 * only says that they parse.
 * Over 300 lines: one promtool run per alert group, each with the series that make its alerts fire and stay quiet.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';

const RULES = resolve('deploy/prometheus/memshift-rules.yaml');
const rules = (parse(readFileSync(RULES, 'utf8')) as { groups: { rules: { alert: string; annotations: { description: string } }[] }[] }).groups.flatMap(
  (g) => g.rules,
);
/** A rule's description is fixed text; its summary, which carries the figures, is spelt out in each case below. */
const description = (alert: string) => rules.find((r) => r.alert === alert)!.annotations.description;

const dir = mkdtempSync(join(tmpdir(), 'memshift-alerts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Case {
  /** Series as promtool's expanding notation writes them: a counter growing by n a minute is `0+nx30`. */
  series: Record<string, string>;
  /** At each time, the alerts expected firing: their labels (besides alertname) and summary. */
  expect: { at: string; alert: string; firing: { labels: Record<string, string>; summary: string }[] }[];
}

/** Alerts some case below has fed: the last test asks that none of the rules is left out. */
const fed = new Set<string>();

/** Runs one promtool unit test file of the cases; returns promtool's output, throwing it when a case fails. */
function promtool(cases: Case[]): string {
  for (const c of cases) for (const e of c.expect) if (e.firing.length) fed.add(e.alert);
  const file = join(dir, `cases-${Math.random().toString(36).slice(2)}.yaml`);
  const doc = {
    rule_files: [RULES],
    evaluation_interval: '1m',
    tests: cases.map((c) => ({
      interval: '1m',
      input_series: Object.entries(c.series).map(([series, values]) => ({ series, values })),
      alert_rule_test: c.expect.map((e) => ({
        eval_time: e.at,
        alertname: e.alert,
        exp_alerts: e.firing.map((f) => ({ exp_labels: f.labels, exp_annotations: { summary: f.summary, description: description(e.alert) } })),
      })),
    })),
  };
  writeFileSync(file, stringify(doc));
  try {
    return execFileSync('promtool', ['test', 'rules', file], { encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    throw new Error(`promtool test rules failed:\n${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`);
  }
}

it("pages when over 1% of a service's requests get memshift's error for 5 minutes, and not at 0.5%", () => {
  const req = (service: string, outcome: string) => `memshift_requests_total{service="${service}",action="a",outcome="${outcome}"}`;
  const out = promtool([
    {
      series: {
        [req('session-memory', 'ok')]: '0+980x30',
        [req('session-memory', 'backend_error')]: '0+20x30',
        [req('jarvis-memory', 'ok')]: '0+995x30',
        [req('jarvis-memory', 'backend_error')]: '0+5x30',
      },
      expect: [
        // The rate's first 5-minute window, then its `for`: pending until then.
        { at: '4m', alert: 'MemshiftAgentErrors', firing: [] },
        {
          at: '15m',
          alert: 'MemshiftAgentErrors',
          firing: [
            {
              labels: { severity: 'page', service: 'session-memory' },
              summary: "session-memory: 2% of the agents' requests answered with an error by memshift",
            },
          ],
        },
      ],
    },
  ]);
  expect(out).toMatch(/SUCCESS/);
});

it('tickets replicas configured apart after 5 minutes; pages a guard rollback at once, a secondary write waiting past 5 minutes, a replica down for 2', () => {
  const out = promtool([
    {
      series: {
        'memshift_fleet_disagreements{instance="a:8080"}': '0 0 1x20',
        'memshift_fleet_disagreements{instance="b:8080"}': '0x22',
        'memshift_guard_tripped{service="jarvis-memory",instance="a:8080"}': '0 0 0 1x20',
        'memshift_guard_tripped{service="session-memory",instance="a:8080"}': '0x23',
        // The oldest secondary write's age, a minute more each minute from 0: past 300 s at minute 6, then its `for`.
        'memshift_outbox_oldest_age_seconds{instance="a:8080"}': '0+60x20',
        // Replica b stops answering scrapes at minute 2.
        'up{job="memshift",instance="a:8080"}': '1x20',
        'up{job="memshift",instance="b:8080"}': '1 1 0x18',
      },
      expect: [
        { at: '5m', alert: 'MemshiftFleetSettingsDiffer', firing: [] },
        {
          at: '10m',
          alert: 'MemshiftFleetSettingsDiffer',
          firing: [{ labels: { severity: 'ticket' }, summary: 'replicas sharing the state store disagree on 1 setting(s) or stage(s) they must share' }],
        },
        { at: '2m', alert: 'MemshiftGuardTripped', firing: [] },
        {
          at: '3m',
          alert: 'MemshiftGuardTripped',
          firing: [{ labels: { severity: 'page', service: 'jarvis-memory' }, summary: "memshift's guard tripped on jarvis-memory" }],
        },
        { at: '3m', alert: 'MemshiftReplicaDown', firing: [] },
        {
          at: '5m',
          alert: 'MemshiftReplicaDown',
          firing: [{ labels: { severity: 'page', job: 'memshift', instance: 'b:8080' }, summary: 'memshift replica b:8080 is down' }],
        },
        { at: '6m', alert: 'MemshiftOutboxOldWrites', firing: [] },
        {
          at: '8m',
          alert: 'MemshiftOutboxOldWrites',
          firing: [{ labels: { severity: 'page' }, summary: 'a secondary write has waited 8m 0s to be applied' }],
        },
      ],
    },
  ]);
  expect(out).toMatch(/SUCCESS/);
});

it('pages reads from a side that missed writes once the stage reads it for a minute, not while the other side serves them', () => {
  const stage = (service: string, name: string) => `memshift_stage{service="${service}",stage="${name}",instance="a:8080"}`;
  const behind = (service: string, side: string) => `memshift_side_behind{service="${service}",side="${side}",instance="a:8080"}`;
  const out = promtool([
    {
      series: {
        // session-memory writes at complete from minute 2, then goes back to dual-write (a flags edit) at minute 5.
        [behind('session-memory', 'legacy')]: '0 0 1x20',
        [behind('session-memory', 'new')]: '0x22',
        [stage('session-memory', 'complete')]: '1x4 stale',
        [stage('session-memory', 'dual-write')]: '_x5 1x16',
        // jarvis-memory's legacy is behind too, but it went back to new-primary only: the orchestrator serves its reads.
        [behind('jarvis-memory', 'legacy')]: '1x22',
        [stage('jarvis-memory', 'new-primary')]: '1x22',
        // contextual-memory: writes under the kill switch from minute 0 to 9, then back at shadow (reads legacy) until
        // minute 12, then cutover, where some reads come from the orchestrator.
        [behind('contextual-memory', 'new')]: '0 1x21',
        [behind('contextual-memory', 'legacy')]: '0x22',
        [stage('contextual-memory', 'killed')]: '1x9 stale',
        [stage('contextual-memory', 'shadow')]: '_x10 1x2 stale',
        [stage('contextual-memory', 'cutover')]: '_x13 1x8',
      },
      expect: [
        { at: '5m', alert: 'MemshiftStaleReads', firing: [] },
        {
          at: '7m',
          alert: 'MemshiftStaleReads',
          firing: [{ labels: { severity: 'page', service: 'session-memory' }, summary: 'session-memory serves reads from a side that missed writes' }],
        },
        {
          at: '15m',
          alert: 'MemshiftStaleReads',
          firing: [
            { labels: { severity: 'page', service: 'session-memory' }, summary: 'session-memory serves reads from a side that missed writes' },
            { labels: { severity: 'page', service: 'contextual-memory' }, summary: 'contextual-memory serves reads from a side that missed writes' },
          ],
        },
      ],
    },
  ]);
  expect(out).toMatch(/SUCCESS/);
});

it('tickets a mismatch rate over 0.1% of compared reads for 5 minutes, re-checks counted, skipped reads not', () => {
  const cmp = (service: string, outcome: string) => `memshift_comparisons_total{service="${service}",action="a",outcome="${outcome}"}`;
  const out = promtool([
    {
      series: {
        // 3 of 1,000 compared differ, one of them found by a re-check; the skipped reads are no comparisons.
        [cmp('contextual-memory', 'match')]: '0+897x30',
        [cmp('contextual-memory', 'mismatch')]: '0+2x30',
        [cmp('contextual-memory', 'recheck_match')]: '0+100x30',
        [cmp('contextual-memory', 'recheck_mismatch')]: '0+1x30',
        [cmp('contextual-memory', 'skipped')]: '0+5000x30',
        // 1 of 2,000: under the threshold.
        [cmp('session-memory', 'match')]: '0+1999x30',
        [cmp('session-memory', 'mismatch')]: '0+1x30',
      },
      expect: [
        {
          at: '15m',
          alert: 'MemshiftMismatchRateHigh',
          firing: [{ labels: { severity: 'ticket', service: 'contextual-memory' }, summary: 'contextual-memory: 0.3% of compared reads differ' }],
        },
      ],
    },
  ]);
  expect(out).toMatch(/SUCCESS/);
});

it('tickets orchestrator errors over 1% for 5 minutes, parked writes, keys reordered or writes assumed applied within the hour and differences left', () => {
  const leg = (service: string, outcome: string) => `memshift_leg_duration_ms_count{service="${service}",action="a",side="new",outcome="${outcome}"}`;
  const assumed = (instance: string) =>
    `memshift_unknown_outcomes_resolved_total{instance="${instance}:8080",service="contextual-memory",side="legacy",role="primary",result="assumed"}`;
  const out = promtool([
    {
      series: {
        [leg('jarvis-memory', 'ok')]: '0+950x80',
        [leg('jarvis-memory', 'timeout')]: '0+50x80',
        // Legacy's failures are not the orchestrator's.
        'memshift_leg_duration_ms_count{service="session-memory",action="a",side="legacy",outcome="timeout"}': '0+500x80',
        [leg('session-memory', 'ok')]: '0+1000x80',
        'memshift_outbox_parked{instance="a:8080"}': '0x9 3x70',
        // One key reordered at minute 10: a ticket for the hour after it.
        'memshift_outbox_reordered_keys{instance="a:8080"}': '0x9 1x70',
        'memshift_reconcile_remaining{service="contextual-memory"}': '0x80',
        'memshift_reconcile_remaining{service="session-memory"}': '0x9 2x70',
        // A write assumed applied at minute 10 on one replica (its series made by it), another at minute 20 on a second.
        [assumed('a')]: '_x10 1x70',
        [assumed('b')]: '_x20 1x60',
      },
      expect: [
        {
          at: '15m',
          alert: 'MemshiftNewSideErrors',
          firing: [{ labels: { severity: 'ticket', service: 'jarvis-memory' }, summary: 'jarvis-memory: 5% of calls to the orchestrator fail' }],
        },
        { at: '9m', alert: 'MemshiftParkedWrites', firing: [] },
        { at: '10m', alert: 'MemshiftParkedWrites', firing: [{ labels: { severity: 'ticket' }, summary: '3 secondary write(s) parked as dead' }] },
        { at: '9m', alert: 'MemshiftKeysReordered', firing: [] },
        {
          at: '30m',
          alert: 'MemshiftKeysReordered',
          firing: [{ labels: { severity: 'ticket' }, summary: "key(s) whose held secondary writes another replica's later ones overtook, in the last hour" }],
        },
        { at: '75m', alert: 'MemshiftKeysReordered', firing: [] },
        { at: '9m', alert: 'MemshiftWritesAssumedApplied', firing: [] },
        ...['10m', '75m'].map((at) => ({
          at,
          alert: 'MemshiftWritesAssumedApplied',
          firing: [
            {
              labels: { severity: 'ticket', service: 'contextual-memory' },
              summary: "contextual-memory: secondary write(s) copied as applied with their primary's outcome unknown, in the last hour",
            },
          ],
        })),
        { at: '81m', alert: 'MemshiftWritesAssumedApplied', firing: [] },
        {
          at: '10m',
          alert: 'MemshiftReconcileDifferences',
          firing: [{ labels: { severity: 'ticket', service: 'session-memory' }, summary: 'session-memory: the latest reconciliation left 2 difference(s)' }],
        },
      ],
    },
  ]);
  expect(out).toMatch(/SUCCESS/);
});

it('pages a replica that Unleash has not answered for over 2 minutes (its flags frozen), not one with flags from its file', () => {
  const out = promtool([
    {
      series: {
        // Unleash refuses replica a's token from minute 4: its silence grows a minute a minute.
        'memshift_flags_unanswered_seconds{instance="a:8080"}': '0x4 60+60x6',
        'memshift_flags_unanswered_seconds{instance="b:8080"}': '0x10',
      },
      expect: [
        { at: '6m', alert: 'MemshiftUnleashUnanswered', firing: [] },
        {
          at: '7m',
          alert: 'MemshiftUnleashUnanswered',
          firing: [{ labels: { severity: 'page', instance: 'a:8080' }, summary: 'memshift replica a:8080 has had no answer from Unleash for 3m 0s' }],
        },
      ],
    },
  ]);
  expect(out).toMatch(/SUCCESS/);
});

it('opens a ticket for a replica holding flags Unleash no longer defines, after 5 minutes', () => {
  const out = promtool([
    {
      series: {
        // Two flags archived in Unleash at minute 3 (replica a); replica b's flags come from its file.
        'memshift_flags_held{instance="a:8080"}': '0x3 2x10',
        'memshift_flags_held{instance="b:8080"}': '0x13',
      },
      expect: [
        { at: '7m', alert: 'MemshiftFlagsNotInUnleash', firing: [] },
        {
          at: '9m',
          alert: 'MemshiftFlagsNotInUnleash',
          firing: [{ labels: { severity: 'ticket', instance: 'a:8080' }, summary: 'memshift replica a:8080 holds 2 flag(s) Unleash no longer defines' }],
        },
      ],
    },
  ]);
  expect(out).toMatch(/SUCCESS/);
});

it('leaves no rule without a case that makes it fire', () => {
  expect([...fed].sort()).toEqual(rules.map((r) => r.alert).sort());
});
