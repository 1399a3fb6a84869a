/**
 * The daily report end to end: a demo-like run (shadow reads on every service, a divergence fault in the
 * orchestrator, the guard watching), a reconciliation run on record, then the report served by
 * /admin/reports opened from a file in headless Chromium: its charts are drawn, the figures it shows are
 * the store's, and no memory content leaks into it.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { command as reportCommand } from '../../src/commands/report.js';
import { runTraffic } from '../../src/tools/demo/traffic.js';
import { ReconcileRuns } from '../../src/reconcile/runs.js';
import { dayWindow, utcDate, type ReportData } from '../../src/report/index.js';
import { SIM_SERVICES, type SimService as ServiceName } from '../../src/tools/sim/services.js';
import { launchChromium, type Browser } from '../support/chromium.js';
import { SHADOW_ALL, startMigrationStack, type MigrationStack } from '../support/migration.js';

const TOKEN = 'report-test-token';
const SECRET = 'the code word is periwinkle';

let stack: MigrationStack;
let browser: Browser;
let dir: string;
const today = utcDate(new Date());
const sent = {} as Record<ServiceName, number>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memshift-report-'));
  stack = await startMigrationStack(SHADOW_ALL, {
    admin: { token: TOKEN },
    report: { dir: '' },
    // Values kept in full at rest (here and for the reconciliation run below), so that --no-redact has something
    // to show; redacted is the default (test/store/at-rest.test.ts).
    store: { valuesAtRest: 'full' },
    // Trips on a small sample, so the run leaves guard events as a real rollback would.
    guard: { mismatchRate: { threshold: 0.001, minSamples: 40 } },
  });
  const fronts = stack.proxy.fronts;
  const traffic = [await runTraffic({ fronts, agents: 16, requests: 700, prefix: 'clean', seed: 3 })];
  await stack.sims.applyFaults('orchestrator', { divergence: { rate: 0.3, mode: 'alter' } });
  traffic.push(await runTraffic({ fronts, agents: 16, requests: 700, prefix: 'drift', seed: 5 }));
  await stack.proxy.runner.secondary.drain();
  await stack.sims.applyFaults('orchestrator', { divergence: { rate: 0 } });
  traffic.push(await runTraffic({ fronts, agents: 16, requests: 400, prefix: 'drift', seed: 5 }));
  // What the agents sent, as they count it: the report's served figures must add up to it.
  for (const s of SIM_SERVICES) sent[s] = traffic.reduce((n, r) => n + r.byService[s], 0);
  await stack.proxy.runner.secondary.drain();

  const runs = new ReconcileRuns(stack.proxy.store.pool, { retentionMs: 3_600_000 });
  const run = await runs.start('session-memory', { trigger: 'manual', stage: 'shadow', truth: 'legacy', repair: false });
  await runs.saveDifferences(run.id, [
    {
      key: 'u7-s1',
      kind: 'differing',
      diffs: [{ path: 'interactions[0].content', field: 'interactions[].content', kind: 'content', legacy: SECRET, new: `${SECRET}!` }],
    },
    { key: 'u9-s4', kind: 'missing_in_new', diffs: [] },
  ]);
  // Its key's writes were still on their way to the orchestrator when the run ended.
  await runs.markQueued(run.id, ['u9-s4']);
  await runs.finish(run.id, { status: 'done', converged: 0, repaired: 0, repairFailed: 0, sampleSize: 20 });
  await stack.proxy.store.flush();

  browser = await launchChromium();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const admin = (path: string, init: RequestInit = {}) =>
  fetch(`${stack.proxy.httpUrl}/admin${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, ...init.headers } });

/** Per service, the store's own summary of today (summed over actions). */
async function storeTotals(): Promise<Record<ServiceName, { requests: number; compared: number; mismatch: number }>> {
  const day = dayWindow(today)!;
  const rows = await stack.proxy.store.comparisons.summary({ since: day.from, until: day.to });
  const totals = Object.fromEntries(SIM_SERVICES.map((s) => [s, { requests: 0, compared: 0, mismatch: 0 }])) as Record<
    ServiceName,
    { requests: number; compared: number; mismatch: number }
  >;
  for (const r of rows) {
    const t = totals[r.service as ServiceName];
    t.requests += r.requests;
    t.compared += r.compared;
    t.mismatch += r.mismatch;
  }
  return totals;
}

const number = (text: string) => Number(text.replace(/[,%\s]/g, ''));

it('serves the report under /admin/reports, behind the admin token', async () => {
  expect((await fetch(`${stack.proxy.httpUrl}/admin/reports/${today}.html`)).status).toBe(401);
  expect((await admin('/reports/2020-13-45.html')).status).toBe(404);

  const html = await admin(`/reports/${today}.html`);
  expect(html.status).toBe(200);
  expect(html.headers.get('content-type')).toMatch(/^text\/html/);
  expect(await html.text()).toContain('<html');
  const md = await (await admin(`/reports/${today}.md`)).text();
  for (const s of SIM_SERVICES) expect(md).toContain(`## ${s}`);

  const json = (await (await admin(`/reports/${today}.json`)).json()) as ReportData;
  const totals = await storeTotals();
  for (const s of json.services) {
    expect(s.totals).toMatchObject({
      requests: totals[s.service as ServiceName].requests,
      compared: totals[s.service as ServiceName].compared,
      mismatch: totals[s.service as ServiceName].mismatch,
    });
  }
  const list = (await (await admin('/reports')).json()) as { reports: { date: string; verdicts: Record<string, string> }[] };
  expect(list.reports.map((r) => r.date)).toContain(today);
  expect(Object.keys(list.reports[0]!.verdicts).sort()).toEqual([...SIM_SERVICES].sort());
});

it('opens in headless Chromium with its charts drawn and the store figures shown', async () => {
  const html = await (await admin(`/reports/${today}.html`)).text();
  const file = join(dir, `${today}.html`);
  await writeFile(file, html);

  const page = await browser.context.newPage();
  const fetched: string[] = [];
  page.on('request', (req) => {
    if (!req.url().startsWith('file:')) fetched.push(req.url());
  });
  await page.goto(pathToFileURL(file).href);
  await expect.poll(() => page.title()).toBe(`memshift report ${today}`);

  const totals = await storeTotals();
  expect(Object.values(totals).reduce((a, t) => a + t.compared, 0)).toBeGreaterThan(150);
  for (const service of SIM_SERVICES) {
    const t = totals[service];
    // Every place the page shows a service's figure: its card and its section.
    for (const [figure, expected] of [
      ['served', sent[service]],
      ['requests', t.requests],
      ['compared', t.compared],
    ] as const) {
      const shown = await page.locator(`[data-service="${service}"] [data-figure="${figure}"]`).allInnerTexts();
      expect(shown, `${service} ${figure}`).toHaveLength(2);
      for (const text of shown) expect(number(text), `${service} ${figure}`).toBe(expected);
    }
    const rates = await page.locator(`[data-service="${service}"] [data-figure="mismatch-rate"]`).allInnerTexts();
    expect(rates).toHaveLength(2);
    const rate = t.compared ? (t.mismatch / t.compared) * 100 : 0;
    // As shown, rounded to its decimals: within half a unit of the last one (0.625 may show as 0.63).
    for (const text of rates) {
      const decimals = /\.(\d+)/.exec(text)?.[1]?.length ?? 0;
      expect(Math.abs(number(text) - rate), `${service} mismatch rate ${text} vs ${rate}`).toBeLessThanOrEqual(0.5 * 10 ** -decimals + 1e-9);
    }

    // Divergence (or the guard acting on it) is a roll back; the verdict says why.
    const card = page.locator(`.card[data-service="${service}"]`);
    const guardTrips = await stack.proxy.guardEvents.list({ service });
    if (t.mismatch > 0 || guardTrips.length) expect(await card.locator('[data-verdict]').getAttribute('data-verdict')).toBe('roll back');
    // Flags from a file: the guard's rollback lives in the store, not in the flags, so the section says it holds.
    const held = page.locator(`section.service[data-service="${service}"] [data-figure="held-back"]`);
    if (guardTrips.length)
      expect(await held.innerText()).toMatch(
        new RegExp(`^Held back by the guard since \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC \\(.*shadow-read off.*\\).*guard/${service}/resume`),
      );
    else expect(await held.count()).toBe(0);
    expect((await card.locator('.reason').innerText()).length).toBeGreaterThan(10);
  }
  expect(Object.values(totals).some((t) => t.mismatch > 0)).toBe(true);

  const charts = ['mismatch-rate', 'outbox-depth', ...SIM_SERVICES.flatMap((s) => [`latency-${s}`, `errors-${s}`])];
  for (const id of charts) {
    const svg = page.locator(`svg[data-chart="${id}"]`);
    const box = await svg.boundingBox();
    expect(box, id).not.toBeNull();
    expect(box!.width, id).toBeGreaterThan(150);
    expect(box!.height, id).toBeGreaterThan(120);
    const points = svg.locator('circle.pt');
    expect(await points.count(), id).toBeGreaterThan(0);
    const dot = await points.first().boundingBox();
    expect(dot!.width, id).toBeGreaterThan(1);
  }

  // The mismatch chart plots the store's per-minute rates.
  const day = dayWindow(today)!;
  for (const service of SIM_SERVICES) {
    const series = await stack.proxy.store.comparisons.series({ service, since: day.from, until: day.to });
    const expected = series.filter((p) => p.compared > 0).map((p) => p.mismatchRate);
    const plotted = await page
      .locator(`svg[data-chart="mismatch-rate"] g[data-series="${service}"] circle.pt`)
      .evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-value'))));
    expect(plotted).toEqual(expected);
  }

  // Memory contents are redacted: neither the planted secret nor the diverged values appear.
  const text = await page.locator('body').innerText();
  expect(text).toContain('u7-s1');
  // The difference whose writes were still queued is told apart, in the run's row and beside the key.
  const reconcile = page.locator('section.service[data-service="session-memory"]');
  const cells = await reconcile.locator('td').allInnerTexts();
  expect(cells).toContain('2\n1 queued');
  expect(cells).toContain('missing in new\nwrites queued');
  expect(text).toContain('interactions[0].content');
  expect(text).not.toContain('periwinkle');
  expect(text).not.toContain('[diverged]');
  expect(text).toMatch(/‹string, \d+ chars, #[0-9a-f]{8}›/);
  expect(fetched).toEqual([]);

  const png = await page.screenshot({ fullPage: true });
  expect(png.length).toBeGreaterThan(20_000);
  // To look at it: MEMSHIFT_REPORT_SCREENSHOT=/tmp/report.png (the report's JSON goes next to it).
  const keep = process.env.MEMSHIFT_REPORT_SCREENSHOT;
  if (keep) await Promise.all([writeFile(keep, png), writeFile(keep.replace(/\.png$/, '') + '.json', await (await admin(`/reports/${today}.json`)).text())]);
  await page.close();
});

it('is written by `memshift report` as HTML, Markdown and JSON, with values shown on --no-redact', async () => {
  const out = join(dir, 'cli');
  const url = stack.databaseUrl;
  const code = await reportCommand.run(['--date', today, '--out', out, '--no-redact', '--set', `store.url=${url}`]);
  expect(code ?? 0).toBe(0);
  const data = JSON.parse(await readFile(join(out, `${today}.json`), 'utf8')) as ReportData;
  expect(data.redacted).toBe(false);
  const totals = await storeTotals();
  for (const s of data.services) expect(s.totals.compared).toBe(totals[s.service as ServiceName].compared);
  expect(await readFile(join(out, `${today}.html`), 'utf8')).toContain('periwinkle');
  const session = data.services.find((s) => s.service === 'session-memory')!;
  expect(session.reconcile[0]).toMatchObject({ remaining: 2, queued: 1 });
  expect(session.reconcile[0]!.samples.map((d) => [d.key, d.queued])).toEqual([
    ['u7-s1', false],
    ['u9-s4', true],
  ]);
  const markdown = await readFile(join(out, `${today}.md`), 'utf8');
  expect(markdown).toContain('# memshift daily reconciliation report');
  expect(markdown).toContain('| 2 (1 queued) |');
});
