// The suite's vitest configuration: most files three at a time in reused processes, then the soaks two at a time, the timed ones alone, last; the longest first.
import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Soaks: scripted outages, hangs and kills under a paced load, judged by what both sides hold afterwards. They wait
 * for conditions with generous deadlines and their load asks for a fraction of what the machine can do, so two of
 * them share it, after the rest.
 */
const SOAKS = ['test/hangs/**/*.test.ts'];
/**
 * Files that hold timings to account (the guard's latency window; about 500 writes/s acknowledged through a hang):
 * one at a time, last, with the machine to themselves.
 */
const TIMED = ['test/guard/*.test.ts', 'test/hangs/no-pile-up.test.ts'];
/**
 * Files that read or change what a process holds once (its telemetry, the counters behind /metrics, where the
 * log goes, the registry of services, process.stdout): each in a fresh process. The rest share processes, three
 * files at a time, which spares each of them loading memshift's modules anew (a sixth of the suite's time here).
 */
const OWN_PROCESS = [
  'test/admin/auth.test.ts',
  'test/dashboard/dashboard.test.ts',
  'test/deploy/config-check.test.ts',
  'test/deploy/monitoring.test.ts',
  'test/migration/kinds.test.ts',
  'test/outbox/cli.test.ts',
  'test/outbox/unknown.test.ts',
  'test/services/fourth-service.test.ts',
  'test/store/no-clear-text.test.ts',
  'test/telemetry/*.test.ts',
];

/**
 * The files that take longest here (20 s and more on CI's two cores), longest first. They start first in their group,
 * so that its workers end together: left to vitest, a clean clone (no timings cached) starts the largest files first,
 * and the Dockerfile's two installs began 140 s into the first group, which then waited on them 90 s.
 */
const LONGEST = [
  'test/deploy/dockerfile.test.ts',
  'test/migration/comparison.test.ts',
  'test/backfill/backfill.test.ts',
  'test/hangs/crash-soak.test.ts',
  'test/hangs/sigstop.test.ts',
  'test/hangs/store-crash.test.ts',
  'test/hangs/unknown-takeover.test.ts',
  'test/outbox/unknown.test.ts',
  'test/outbox/store-hang.test.ts',
  'test/outbox/crash.test.ts',
  'test/outbox/orchestrator-down.test.ts',
  'test/reconcile/reconcile.test.ts',
  'test/comparison/baseline.test.ts',
  'test/outbox/store-down.test.ts',
  'test/deploy/sigterm.test.ts',
  'test/outbox/late-translation.test.ts',
  'test/hangs/replicas.test.ts',
];
// A renamed file would silently lose its place.
for (const f of LONGEST) if (!existsSync(f)) throw new Error(`vitest.config.ts: LONGEST names ${f}, which does not exist`);

/** vitest's order (group, then project, then size or cached timings), with the longest files moved to the front of their group. */
class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification) => {
      const i = LONGEST.findIndex((l) => f.moduleId.endsWith(`/${l}`));
      return i < 0 ? LONGEST.length : i;
    };
    const group = (f: TestSpecification) => f.project.config.sequence.groupOrder;
    // Array.prototype.sort is stable: the rest keep vitest's order.
    return (await super.sort(files)).sort((a, b) => group(a) - group(b) || rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    // zeromq's native addon and embedded PostgreSQL are happiest in child processes, not worker threads.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    sequence: { sequencer: LongestFirst },
    reporters: ['default', 'json'],
    outputFile: { json: '.memshift/test-results.json' },
    projects: [
      // The rest, three files at a time: on CI's two cores their stacks wait on sockets and timers for much of it.
      {
        extends: true,
        test: {
          name: 'shared',
          include: ['test/**/*.test.ts'],
          exclude: [...SOAKS, ...TIMED, ...OWN_PROCESS],
          maxWorkers: 3,
          isolate: false,
          sequence: { groupOrder: 0 },
        },
      },
      { extends: true, test: { name: 'own-process', include: OWN_PROCESS, maxWorkers: 3, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'soak', include: SOAKS, exclude: TIMED, maxWorkers: 2, sequence: { groupOrder: 1 } } },
      { extends: true, test: { name: 'timed', include: TIMED, fileParallelism: false, sequence: { groupOrder: 2 } } },
      // The chaos probe (`npm run chaos`): random minutes of turns, hangs, restarts and kills, not part of `npm test`.
      ...(process.env.MEMSHIFT_CHAOS ? [{ extends: true as const, test: { name: 'chaos', include: ['test/chaos/*.chaos.ts'], fileParallelism: false } }] : []),
    ],
  },
});
