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
