// The suite's vitest configuration: most files two at a time, the ones that hold timings to account alone, after them.
import { defineConfig } from 'vitest/config';

/**
 * Files that hold timings to account (hangs under a soak, the guard's window): run one at a time after the rest,
 * with the machine to themselves, as they were written for. Outages and kills wait for conditions with generous
 * deadlines, so they share the machine with the rest.
 */
const TIMED = ['test/hangs/**/*.test.ts', 'test/guard/*.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    // zeromq's native addon and embedded PostgreSQL are happiest in child processes, not worker threads.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', 'json'],
    outputFile: { json: '.memshift/test-results.json' },
    projects: [
      // The rest, two files at a time (CI has two cores; each file's stack is mostly one process).
      { extends: true, test: { name: 'shared', include: ['test/**/*.test.ts'], exclude: TIMED, maxWorkers: 2, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'timed', include: TIMED, fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});
