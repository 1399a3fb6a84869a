// The suite's vitest configuration: most files two at a time, the ones that hold timings to account alone, after them.
import { defineConfig } from 'vitest/config';

/**
 * Soaks: scripted outages, hangs and kills under a paced load, judged by what both sides hold afterwards. They wait
 * for conditions with generous deadlines and their load asks for a fraction of what the machine can do, so two of
 * them share it, after the rest.
 */
const SOAKS = ['test/hangs/**/*.test.ts'];
/** Files that hold timings to account (the guard's latency window): one at a time, last, with the machine to themselves. */
const TIMED = ['test/guard/*.test.ts'];

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
      { extends: true, test: { name: 'shared', include: ['test/**/*.test.ts'], exclude: [...SOAKS, ...TIMED], maxWorkers: 2, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'soak', include: SOAKS, maxWorkers: 2, sequence: { groupOrder: 1 } } },
      { extends: true, test: { name: 'timed', include: TIMED, fileParallelism: false, sequence: { groupOrder: 2 } } },
    ],
  },
});
