/** The proxy's daily reporter: writes the day that just ended, and catches up yesterday's when nobody did. */
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { openFlags, type Flags } from '../../src/flags/source.js';
import Fastify from 'fastify';
import { DailyReporter } from '../../src/report/job.js';
import { reportRoutes } from '../../src/report/routes.js';
import type { ReportData } from '../../src/report/index.js';
import { SIM_SERVICES } from '../../src/tools/sim/services.js';
import { openStore, type Store } from '../../src/store/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { flagName } from '../../src/flags/names.js';
import { TempFlags } from '../flags/helpers.js';

let store: Store;
let flags: Flags;
let dir: string;
const DAY = '2031-03-14';

beforeAll(async () => {
  store = await openStore({ url: await freshDatabaseUrl(), flushIntervalMs: 60_000 });
  flags = await openFlags({ env: {} });
  dir = await mkdtemp(join(tmpdir(), 'memshift-reports-'));
  const at = new Date(`${DAY}T12:30:00Z`);
  for (let i = 0; i < 40; i++)
    store.comparisons.record({ service: 'jarvis-memory', action: 'get_memories', outcome: i < 2 ? 'mismatch' : 'match', legacyMs: 5, newMs: 7, at });
  await store.flush();
});

afterAll(async () => {
  await flags?.close();
  await store?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

async function until(cond: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function reporter(now: () => Date) {
  return new DailyReporter({ config: parseConfig({ report: { dir } }), store, flags, services: SIM_SERVICES, now, checkEveryMs: 10 });
}

it('writes the report of the day that ends, to the store and to report.dir', async () => {
  let now = new Date(`${DAY}T23:59:59.500Z`);
  const r = reporter(() => now).start();
  try {
    await new Promise((res) => setTimeout(res, 50));
    expect(await r.reports.get(DAY)).toBeUndefined();
    // The day before had no traffic: nothing to catch up.
    expect(await r.reports.list()).toEqual([]);
    now = new Date(`${DAY}T23:59:59.999Z`);
    await new Promise((res) => setTimeout(res, 50));
    expect(await r.reports.get(DAY)).toBeUndefined();

    now = new Date(Date.parse(`${DAY}T00:00:00Z`) + 24 * 3_600_000 + 1_000);
    await until(() => exists(join(dir, `${DAY}.json`)));
    await r.close();
    const data = JSON.parse(await readFile(join(dir, `${DAY}.json`), 'utf8')) as ReportData;
    const jarvis = data.services.find((s) => s.service === 'jarvis-memory')!;
    expect(jarvis.totals).toMatchObject({ requests: 40, compared: 40, mismatch: 2 });
    expect(jarvis.verdict.verdict).toBe('roll back');
    expect(await exists(join(dir, `${DAY}.html`))).toBe(true);
    expect((await r.reports.list()).map((l) => [l.date, l.verdicts['jarvis-memory']])).toEqual([[DAY, 'roll back']]);
  } finally {
    await r.close();
  }
});

it("catches up yesterday's report at start when it had traffic and none was written", async () => {
  await store.pool.query('DELETE FROM reports');
  await rm(join(dir, `${DAY}.html`));
  const r = reporter(() => new Date(`2031-03-15T08:00:00Z`)).start();
  try {
    await until(async () => (await r.reports.get(DAY)) !== undefined);
    expect((await r.reports.get(DAY))!.html).toContain('<svg');
    // The files are written after the store has the report: wait for that write to finish.
    await r.close();
    expect(await exists(join(dir, `${DAY}.html`))).toBe(true);
  } finally {
    await r.close();
  }
});

it("serves reports by the reporter's clock: its today is made fresh, its tomorrow does not exist yet", async () => {
  const app = Fastify();
  reportRoutes(reporter(() => new Date(`${DAY}T12:00:00Z`)))(app);
  try {
    const today = await app.inject({ url: `/reports/${DAY}.json` });
    expect(today.statusCode).toBe(200);
    expect((today.json() as ReportData).date).toBe(DAY);
    expect((await app.inject({ url: '/reports/2031-03-15.json' })).statusCode).toBe(404);
  } finally {
    await app.close();
  }
});

it('serves and stores the report where report.dir cannot be made (a directory its user may not write): the files alone are missed', async () => {
  const app = Fastify();
  // Under a regular file: no user, root included, can make it.
  const unwritable = join(dir, 'a-file', 'reports');
  await writeFile(join(dir, 'a-file'), '');
  const r = new DailyReporter({
    config: parseConfig({ report: { dir: unwritable } }),
    store,
    flags,
    services: SIM_SERVICES,
    now: () => new Date(`${DAY}T12:00:00Z`),
  });
  reportRoutes(r)(app);
  try {
    const today = await app.inject({ url: `/reports/${DAY}.md` });
    expect(today.statusCode, today.body).toBe(200);
    expect(today.body).toMatch(/^# memshift daily reconciliation report/);
    expect((await r.reports.get(DAY))?.markdown).toBe(today.body);
    expect(await exists(unwritable)).toBe(false);
  } finally {
    await app.close();
  }
});

it('keeps store.retainDays of figures: older ones deleted at start and as a day ends, their stored report still served, not made again', async () => {
  const OLD = '2031-01-02';
  const KEPT = '2031-02-08';
  const figures = async (table: string, day: string) =>
    Number((await store.pool.query(`SELECT count(*) AS n FROM ${table} WHERE minute >= $1::date AND minute < $1::date + 1`, [day])).rows[0].n);
  // Written as the proxy writes them (by the minute), on a day long past, a day just inside 35 days of DAY, and DAY.
  for (const day of [OLD, KEPT, DAY]) {
    const at = `${day}T10:00:00Z`;
    await store.pool.query(`INSERT INTO comparison_counts (minute, service, action, outcome, count) VALUES ($1, 'session-memory', 'get_context', 'match', 3)`, [
      at,
    ]);
    await store.pool.query(
      `INSERT INTO comparison_tallies (minute, service, action, tally, count) VALUES ($1, 'session-memory', 'get_context', 'kind.value', 1)`,
      [at],
    );
    await store.pool.query(
      `INSERT INTO unknown_outcomes (minute, service, side, role, outcome, count) VALUES ($1, 'session-memory', 'new', 'secondary', 'seen', 1)`,
      [at],
    );
  }
  const run = async (day: string, status: string) => {
    const { rows } = await store.pool.query(
      `INSERT INTO reconcile_runs (service, truth, status, started_at, missing_in_new) VALUES ('session-memory', 'legacy', $2, $1, 2) RETURNING id`,
      [`${day}T03:00:00Z`, status],
    );
    await store.pool.query(`INSERT INTO reconcile_differences (run_id, key, kind) VALUES ($1, 'a', 'missing_in_new'), ($1, 'b', 'missing_in_new')`, [
      rows[0].id,
    ]);
    return rows[0].id as string;
  };
  const [oldDone, oldRunning, kept] = [await run(OLD, 'done'), await run(OLD, 'running'), await run(KEPT, 'done')];
  const differences = async (id: string) =>
    Number((await store.pool.query('SELECT count(*) AS n FROM reconcile_differences WHERE run_id = $1', [id])).rows[0].n);

  // OLD's report, written while OLD was today.
  const then = reporter(() => new Date(`${OLD}T23:00:00Z`));
  const written = await then.write(OLD);
  await then.close();
  expect(written.data.services.find((s) => s.service === 'session-memory')!.totals.requests).toBe(3);

  let now = new Date(`${DAY}T12:00:00Z`);
  const r = reporter(() => now).start();
  const app = Fastify();
  reportRoutes(r)(app);
  try {
    await until(async () => (await figures('comparison_counts', OLD)) === 0, 30_000);
    await until(async () => (await differences(oldDone)) === 0, 30_000);
    for (const table of ['comparison_counts', 'comparison_tallies', 'unknown_outcomes']) {
      expect(await figures(table, OLD), table).toBe(0);
      expect(await figures(table, KEPT), table).toBe(1);
    }
    expect([await differences(oldRunning), await differences(kept)]).toEqual([2, 2]);
    expect(Number((await store.pool.query('SELECT count(*) AS n FROM reconcile_runs WHERE id = ANY($1)', [[oldDone, oldRunning, kept]])).rows[0].n)).toBe(3);

    // The stored report is served as it was written; making it again from what is left is refused, and it stays.
    const served = await app.inject({ url: `/reports/${OLD}.json` });
    expect(served.statusCode).toBe(200);
    expect(JSON.parse(served.body)).toEqual(JSON.parse(written.json));
    const again = await app.inject({ method: 'POST', url: `/reports/${OLD}` });
    expect(again.statusCode).toBe(409);
    expect(again.body).toContain('store.retainDays: 35');
    expect(JSON.parse((await r.reports.get(OLD))!.json)).toEqual(JSON.parse(written.json));
    const none = await app.inject({ url: '/reports/2031-01-03.html' });
    expect(none.statusCode).toBe(404);
    expect(none.body).toContain('no longer kept');

    // Two days on, KEPT falls out of the 35 days as the day ends.
    now = new Date(Date.parse(`${DAY}T00:00:00Z`) + 2 * 24 * 3_600_000);
    await until(async () => (await figures('comparison_counts', KEPT)) === 0, 30_000);
    await until(async () => (await differences(kept)) === 0, 30_000);
    expect(await figures('comparison_counts', DAY)).toBeGreaterThan(0);
  } finally {
    await app.close();
    await r.close();
  }
});

it('holds a service one of whose writes was assumed applied in or after the minute its latest reconciliation run began', async () => {
  const day = '2031-03-20';
  const service = 'contextual-memory';
  const temp = await TempFlags.create({ [flagName(service, 'dual-write')]: { enabled: true } });
  const r = new DailyReporter({
    config: parseConfig({ report: { dir: '' } }),
    store,
    flags: await temp.open(),
    services: SIM_SERVICES,
    now: () => new Date(`${day}T23:00:00Z`),
    checkEveryMs: 60_000,
  });
  const run = (at: string) =>
    store.pool.query(`INSERT INTO reconcile_runs (service, truth, status, started_at) VALUES ($1, 'legacy', 'done', $2)`, [service, `${day}T${at}Z`]);
  const reasons = async () => (await r.write(day)).data.services.find((s) => s.service === service)!.verdict.reasons;
  const ASSUMED = /^a write taken over at 10:00 UTC was copied as applied with its primary's outcome unknown, after the latest reconciliation run began/;
  try {
    // Counted by the minute: one in 10:00 may have come after a run that began at 10:00:30.
    await run('10:00:30');
    await store.pool.query(`INSERT INTO unknown_outcomes (minute, service, side, role, outcome, count) VALUES ($1, $2, 'legacy', 'primary', 'assumed', 1)`, [
      `${day}T10:00:00Z`,
      service,
    ]);
    expect(await reasons()).toContainEqual(expect.stringMatching(ASSUMED));
    // A run begun after that minute covers it.
    await run('10:01:00');
    expect(await reasons()).not.toContainEqual(expect.stringMatching(ASSUMED));
  } finally {
    await r.close();
    await temp.dispose();
  }
});
