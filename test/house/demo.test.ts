/**
 * `npx memshift demo`, the README's first command, run twice in one directory as a new user would: each run starts
 * from nothing. It kept its state in `memshift serve`'s embedded store (the tour's), so a second run found the first
 * run's furthest stage and trips: every service "has missed writes" (served at off after new-primary), the guard
 * "tripped 2 time(s)", against simulators that had started empty.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';

const dir = await mkdtemp(join(tmpdir(), 'memshift-demo-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

const demo = () =>
  promisify(execFile)(process.execPath, [process.env.MEMSHIFT_BIN!, 'demo', '--stage-seconds', '1', '--agents', '2'], { cwd: dir, timeout: 120_000 });

it("a second demo run starts from nothing, in a store and reports of its own, not the tour's", async () => {
  expect(process.env.MEMSHIFT_BIN, 'the suite points children at its build').toBeDefined();
  await demo();
  const second = await demo();
  expect(second.stdout).toMatch(/^report: .*\.memshift\/demo\/reports\/\d{4}-\d\d-\d\d\.html/m);
  const reports = join(dir, '.memshift/demo/reports');
  const [md] = (await readdir(reports)).filter((f) => f.endsWith('.md'));
  const report = await readFile(join(reports, md!), 'utf8');
  // Each service's section is there, and none says the orchestrator missed writes (the first run's stage is gone).
  expect(report.match(/^## \S+ — /gm)).toHaveLength(3);
  expect(report).not.toMatch(/missed writes/);
  expect(second.stdout).not.toMatch(/tripped 2 time/);
  // `memshift serve`'s default store and reports are not touched.
  expect(existsSync(join(dir, '.memshift/pg'))).toBe(false);
  expect(existsSync(join(dir, '.memshift/reports'))).toBe(false);
}, 240_000);
