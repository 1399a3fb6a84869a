/**
 * No users' text at rest or in logs: a demo-like run whose agents write a marker into every text (shadow reads,
 * dual writes, a divergence so that mismatch samples are kept, the daily report, a reconciliation run with
 * differences), then a SELECT over every table memshift owns and a read of its debug log find no marker; nor does the
 * log name the guard's chat webhooks beyond their origin (the rest of such a URL is its secret).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { afterAll, expect, it, vi } from 'vitest';
import { openFlags } from '../../src/flags/source.js';
import { reconcileService } from '../../src/reconcile/sides.js';
import { openStore } from '../../src/store/index.js';
import { runTraffic } from '../../src/tools/demo/traffic.js';
import type { SimOptions } from '../../src/tools/sim/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { SHADOW_ALL, startMigrationStack } from '../support/migration.js';
import { listen } from '../support/slack-like.js';
import { configFor, startSims } from '../support/stack.js';

// Before the logger is made (imports are hoisted above ordinary statements): every line, to a file.
const LOG = vi.hoisted(() => {
  const file = `${process.env.TMPDIR ?? '/tmp'}/memshift-clear-text-${process.pid}.log`;
  process.env.MEMSHIFT_LOG_LEVEL = 'debug';
  process.env.MEMSHIFT_LOG_FILE = file;
  return file;
});

const MARKER = 'QZX7marker';
/** A chat webhook's secret, in the path of its URL as Slack's: the guard's posts fail, and no log line names it. */
const HOOK_SECRET = 'hookSECRET8kq2';
const dir = mkdtempSync(join(tmpdir(), 'memshift-clear-text-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  if (!process.env.KEEP_LOG) rmSync(LOG, { force: true });
});

it('after a run with every text marked, no table memshift owns and no log line holds the marker', async () => {
  const orchestratorUrl = await freshDatabaseUrl();
  const simOptions = (): SimOptions => ({ storage: { dataDir: dir, orchestratorDatabaseUrl: orchestratorUrl, writeDelayMs: 10 } });
  // The guard trips on the divergence, and refused secondary writes are retried: their log lines are read too.
  // Its webhooks refuse (as Slack does an unknown hook) or are out of reach, so their failures are logged.
  const refusing = createServer((_req, res) => res.writeHead(404).end('no_service'));
  const webhooks = [`${await listen(refusing)}/services/T0/B0/${HOOK_SECRET}`, `http://127.0.0.1:1/hooks/${HOOK_SECRET}`];
  const extra = { report: { dir: '' }, guard: { enabled: true, mismatchRate: { threshold: 0.001, minSamples: 40 }, webhooks } };
  const stack = await startMigrationStack(SHADOW_ALL, extra, simOptions());
  const stateUrl = stack.databaseUrl;
  try {
    const fronts = stack.proxy.fronts;
    await stack.sims.applyFaults('orchestrator', { divergence: { rate: 0.2, mode: 'alter' }, errorRate: 0.1 });
    await runTraffic({ fronts, agents: 12, requests: 900, prefix: 'mk', seed: 21, marker: MARKER });
    await stack.proxy.runner.secondary.drain();
    await stack.sims.applyFaults('orchestrator', { divergence: { rate: 0 }, errorRate: 0 });
    await runTraffic({ fronts, agents: 12, requests: 400, prefix: 'mk', seed: 21, marker: MARKER });
    await stack.proxy.runner.secondary.drain();
    // drain() waits for first attempts; writes the first phase's errors left in backoff land on their retry.
    await expect.poll(async () => (await stack.proxy.runner.secondary.stats()).depth, { timeout: 60_000, interval: 250 }).toBe(0);
    await stack.proxy.reporter.write();
    await stack.proxy.store.flush();
    await stack.sims.flush();
  } finally {
    await stack.close();
    await new Promise((r) => refusing.close(r));
  }

  // A reconciliation run over what the simulators stored: the altered records are its differences.
  const store = await openStore({ url: stateUrl });
  const sims = await startSims(simOptions());
  try {
    const config = configFor(sims, stateUrl, { reconcile: { legacyDataDir: dir, orchestratorDatabaseUrl: orchestratorUrl } });
    const result = await reconcileService(config, store, await openFlags({ env: {} }), 'jarvis-memory');
    expect(result.differences.length).toBeGreaterThan(0);

    // The marker as text, and as a bytea column shows it (hex).
    const hex = Buffer.from(MARKER).toString('hex');
    const { rows: tables } = await store.pool.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1`,
    );
    const rowCounts: Record<string, number> = {};
    for (const { name } of tables) {
      const { rows } = await store.pool.query<{ row: string }>(`SELECT t::text AS row FROM "${name}" t`);
      rowCounts[name] = rows.length;
      const found = rows.filter((r) => r.row.includes(MARKER) || r.row.toLowerCase().includes(hex));
      expect.soft(found.length, `${name}: ${found[0]?.row.slice(0, 300)}`).toBe(0);
    }
    // The places users' values reach were all written to, so finding nothing there means something.
    for (const t of ['mismatch_samples', 'reconcile_differences', 'outbox', 'reports', 'comparison_tallies'])
      expect(rowCounts[t], `${t} holds rows`).toBeGreaterThan(0);
  } finally {
    await sims.close();
    await store.close();
  }

  // The simulators (the users' own stores) do hold the marker: the run really wrote it.
  expect(readFileSync(join(dir, 'jarvis_memory_store.json'), 'utf8')).toContain(MARKER);
  const log = readFileSync(LOG, 'utf8');
  expect(log).toMatch(/rolled back|guard/);
  expect(log).toMatch(/guard webhook refused the event/);
  expect(log).toMatch(/guard webhook failed/);
  expect(log.split('\n').find((l) => l.includes(HOOK_SECRET))).toBeUndefined();
  expect(log.split('\n').length).toBeGreaterThan(10);
  expect(
    log.includes(MARKER),
    log
      .split('\n')
      .find((l) => l.includes(MARKER))
      ?.slice(0, 300),
  ).toBe(false);
}, 180_000);
