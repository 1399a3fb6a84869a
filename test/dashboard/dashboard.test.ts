/**
 * The operator's console in headless Chromium: log in with the admin token, see each service's figures as
 * /admin/status gives them, ramp jarvis-memory read-new to 30% from the page (about 30% of users then read
 * from new, sticky), roll it back (reads on legacy again); the page asks nothing of any other origin, the
 * controls refuse requests without the session cookie or without the page's CSRF token, and a form posted
 * from another site changes nothing; a guard that rolled a service back is resumed from the page; the console works
 * under a path of an ingress's own, and across the replicas of a fleet.
 *
 * Over 300 lines: one stack and one browser for every case, since they are the slow part.
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { flagName } from '../../src/flags/names.js';
import { startProxy } from '../../src/proxy.js';
import { runTraffic } from '../../src/tools/demo/traffic.js';
import { SIM_SERVICES } from '../../src/tools/sim/services.js';
import { launchChromium, type Browser } from '../support/chromium.js';
import { SHADOW_ALL, startMigrationStack, type MigrationStack } from '../support/migration.js';
import { configFor } from '../support/stack.js';
import { ReqClient } from '../support/zmq-client.js';

const TOKEN = 'console-test-token';
const S = 'jarvis-memory' as const;
let stack: MigrationStack;
let browser: Browser;
let page: Page;
let elsewhere: Server;
const requested: string[] = [];

beforeAll(async () => {
  stack = await startMigrationStack(SHADOW_ALL, {
    admin: { token: TOKEN },
    report: { dir: '' },
    // The guard shows its window here; its rollbacks are tested elsewhere and would end the ramp early.
    guard: { enabled: true, mismatchRate: { threshold: 0.001, minSamples: 100_000 }, addedLatencyMs: { threshold: 60_000, minSamples: 100 } },
  });
  // A demo-like run: clean traffic, then a while of an orchestrator that alters some writes (samples to show).
  await runTraffic({ fronts: stack.proxy.fronts, agents: 8, requests: 500, prefix: 'console', seed: 4 });
  await stack.sims.applyFaults('orchestrator', { divergence: { rate: 0.3, mode: 'alter' } });
  await runTraffic({ fronts: stack.proxy.fronts, agents: 8, requests: 300, prefix: 'console', seed: 4 });
  await stack.sims.applyFaults('orchestrator', { divergence: { rate: 0 } });
  await stack.proxy.runner.secondary.drain();
  await stack.proxy.store.flush();
  browser = await launchChromium();
  page = await browser.context.newPage();
  page.on('request', (r) => requested.push(r.url()));
  // Another site, for the cross-site form post.
  elsewhere = createServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'text/html' }).end(`<form id="f" method="post" action="${stack.proxy.httpUrl}/ui/api/control" enctype="text/plain">
<input name='{"op":"kill-switch","on":true,"x":"' value='"}'></form><script>document.getElementById('f').submit()</script>`),
  );
  await new Promise<void>((r) => elsewhere.listen(0, '127.0.0.2', r));
}, 120_000);
afterAll(async () => {
  await browser?.close();
  elsewhere?.close();
  await stack?.close();
});

const admin = async (path: string) => (await fetch(`${stack.proxy.httpUrl}/admin${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json();
const card = (service: string) => page.locator(`section[data-service="${service}"]`);
const figure = async (service: string, name: string) => (await card(service).locator(`[data-figure="${name}"]`).first().textContent())?.trim();

/** Clicks a control and confirms it in the page's dialog. */
async function act(service: string, action: string): Promise<void> {
  const before = await page.locator('#message').textContent();
  await card(service).locator(`button[data-action="${action}"]`).click();
  await page.locator('#confirm-ok').click();
  await expect.poll(async () => page.locator('#message').textContent(), { timeout: 10_000 }).not.toBe(before);
  expect(await page.locator('#message').getAttribute('class')).toBe('ok');
}

/** The side each of `users` is served from, read through the proxy. */
async function sides(users: string[]): Promise<string[]> {
  const from = stack.served.length;
  const c = new ReqClient(stack.proxy.fronts[S]!);
  try {
    for (const u of users) await c.call({ action: 'get_memories', user_id: u });
  } finally {
    c.close();
  }
  return stack.served.slice(from).map((e) => e.side);
}

it('logs in with the token once and shows every service as /admin/status does', async () => {
  await page.goto(`${stack.proxy.httpUrl}/`);
  await page.locator('input[name="token"]').fill('not the token');
  await page.locator('button[type="submit"]').click();
  await expect.poll(async () => page.locator('.error').textContent()).toMatch(/not the admin token/);
  await page.locator('input[name="token"]').fill(TOKEN);
  await page.locator('button[type="submit"]').click();
  await card(S).locator('[data-figure="compared"]').waitFor({ timeout: 20_000 });
  const cookie = (await browser.context.cookies()).find((c) => c.name === 'memshift_session')!;
  expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });

  // Traffic has stopped: the page's next refresh shows what /admin/status says now.
  const status = (await admin('/status')) as { services: Record<string, { stage: string; comparisons: { compared: number; mismatches: number } }> };
  for (const s of SIM_SERVICES) {
    await expect.poll(() => figure(s, 'compared'), { timeout: 10_000 }).toBe(String(status.services[s]!.comparisons.compared));
    expect(await figure(s, 'mismatches')).toBe(String(status.services[s]!.comparisons.mismatches));
    expect(await figure(s, 'stage')).toBe(status.services[s]!.stage);
  }
  // Today's requests served, as the report counts them from every replica's tallies.
  const report = (await admin(`/reports/${new Date().toISOString().slice(0, 10)}.json`)) as { services: { service: string; served: { requests: number } }[] };
  for (const r of report.services) {
    expect(r.served.requests, r.service).toBeGreaterThan(0);
    await expect.poll(() => figure(r.service, 'served'), { timeout: 10_000 }).toBe(String(r.served.requests));
  }
  // The replicas sharing the store, as /admin/status counts them (this one alone, configured alike).
  const fleet = (await admin('/status')) as { fleet: { live: number } };
  expect(await page.locator('#fleet [data-figure="replicas"]').textContent()).toBe(String(fleet.fleet.live));
  expect(await page.locator('#fleet').textContent()).toContain('configured alike');
  await card(S).locator('.u-over').first().waitFor({ timeout: 10_000 });
  const keep = process.env.MEMSHIFT_CONSOLE_SCREENSHOT;
  if (keep) await writeFile(keep, await page.screenshot({ fullPage: true }));
});

it('offers to resume a guard that rolled a service back; resumed, the service follows its flags again', async () => {
  expect(await card(S).locator('button[data-action="resume-guard"]').count()).toBe(0);
  // Another replica's rollback, as the fleet exchange hands it over: this proxy follows it within a second or so.
  await stack.proxy.guardEvents.record({
    service: S,
    stage: 'shadow',
    // Just over: shown with the decimals that say so, not as "0.10% > 0.10%".
    breaches: [{ rule: 'mismatchRate', value: 2 / 1984, threshold: 0.001, samples: 1984, minSamples: 1000 }],
    figures: stack.proxy.guard!.status(S)!.figures,
    flagsChanged: [{ flag: flagName(S, 'shadow-read'), to: 'off' }],
    unleash: { changed: [], skipped: 'flags come from a file' },
    replica: 'another-replica',
  });
  await expect.poll(() => stack.proxy.guard!.tripped(), { timeout: 30_000 }).toEqual([S]);
  await expect.poll(() => figure(S, 'guard'), { timeout: 10_000 }).toBe('guard tripped');
  // Why, in words: the window figures start empty at a trip.
  expect(await figure(S, 'guard-why')).toBe('Guard: rolled back at shadow: mismatchRate 0.101% > 0.10% (1,984 samples) (replica another-replica).');
  expect(await sides(['resume-a', 'resume-b'])).toEqual(['legacy', 'legacy']);
  expect(stack.proxy.flags.decide(S, { userId: 'anyone' })).toMatchObject({ shadowRead: false });

  await act(S, 'resume-guard');
  expect(stack.proxy.guard!.tripped()).toEqual([]);
  expect(stack.proxy.flags.localOverrides()).toEqual({});
  expect(stack.proxy.flags.decide(S, { userId: 'anyone' })).toMatchObject({ shadowRead: true });
  await expect.poll(() => figure(S, 'guard'), { timeout: 10_000 }).toBe('guard watching');
  expect(await card(S).locator('button[data-action="resume-guard"]').count()).toBe(0);
  expect(await card(S).locator('[data-figure="guard-why"]').count()).toBe(0);
});

it('ramps read-new to 30% from the page: about 30% of users read from new, each always the same side; roll back sends all to legacy', async () => {
  await card(S).locator('input[data-input="read-new"]').fill('30');
  await act(S, 'ramp-read-new');
  await expect
    .poll(() => stack.proxy.flags.snapshot().services[S]!.flags[flagName(S, 'read-new')], { timeout: 10_000 })
    .toMatchObject({ enabled: true, rollout: 30 });
  const users = Array.from({ length: 600 }, (_, i) => `ramp-${i}`);
  const first = await sides(users);
  const share = first.filter((x) => x === 'new').length / users.length;
  expect(share).toBeGreaterThan(0.22);
  expect(share).toBeLessThan(0.38);
  expect(await sides(users)).toEqual(first);
  const [recorded] = (await stack.proxy.store.pool.query(`SELECT who, action FROM operator_actions ORDER BY id DESC LIMIT 1`)).rows as {
    who: string;
    action: unknown;
  }[];
  expect(recorded).toMatchObject({ who: expect.stringMatching(/^operator@/), action: { op: 'ramp', service: S, kind: 'read-new', percent: 30 } });

  await act(S, 'rollback');
  await expect.poll(() => stack.proxy.flags.snapshot().services[S]!.stage, { timeout: 10_000 }).toBe('dual-write');
  expect(new Set(await sides(users.slice(0, 100)))).toEqual(new Set(['legacy']));
  await expect.poll(() => figure(S, 'stage'), { timeout: 10_000 }).toBe('dual-write');
});

it('asks nothing of any other origin', () => {
  const origin = new URL(stack.proxy.httpUrl).origin;
  expect(requested.length).toBeGreaterThan(5);
  expect(requested.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('data:'))).toEqual([]);
});

it('refuses the controls without the session cookie (401) or without the page token (403); a cross-site form post changes nothing', async () => {
  const control = `${stack.proxy.httpUrl}/ui/api/control`;
  const body = JSON.stringify({ op: 'kill-switch', on: true });
  expect((await fetch(control, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status).toBe(401);
  const cookies = (await browser.context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
  expect((await fetch(control, { method: 'POST', headers: { 'content-type': 'application/json', cookie: cookies }, body })).status).toBe(403);

  const before = (await stack.proxy.store.pool.query(`SELECT count(*)::int AS n FROM operator_actions`)).rows[0].n as number;
  const other = await browser.context.newPage();
  const refused = other.waitForResponse((r) => r.url() === control, { timeout: 10_000 });
  await other.goto(`http://127.0.0.2:${(elsewhere.address() as AddressInfo).port}/`);
  expect([401, 403]).toContain((await refused).status());
  await other.close();
  expect(stack.proxy.flags.snapshot().killSwitch).toBe(false);
  expect((await stack.proxy.store.pool.query(`SELECT count(*)::int AS n FROM operator_actions`)).rows[0].n).toBe(before);
});

it('warns on the card, and in the roll back confirmation, of a legacy store that missed writes at complete; the kill switch warns of the orchestrator', async () => {
  const service = 'contextual-memory';
  // As a replica records it (src/store/side-gaps.ts); the proxy reads the gaps back at its next flush.
  await stack.proxy.store.pool.query(`INSERT INTO side_gaps (service, side, since) VALUES ($1, 'legacy', '2026-11-26T08:00:00Z')`, [service]);
  try {
    await expect.poll(() => figure(service, 'legacy-behind'), { timeout: 15_000 }).toMatch(/^Legacy has missed writes since 2026-11-26T08:00:00.000Z/);
    expect(await card(S).locator('[data-figure="legacy-behind"]').count()).toBe(0);
    await card(service).locator('button[data-action="rollback"]').click();
    expect(await page.locator('#confirm-text').textContent()).toMatch(/reads to legacy, dual writes kept \(legacy has missed writes since/);
    await page.locator('#confirm button[value="cancel"]').click();
    // The kill switch would leave the orchestrator behind in turn: its confirmation says so.
    await page.locator('button[data-action="kill-switch"]').click();
    expect(await page.locator('#confirm-text').textContent()).toMatch(/legacy only \(the writes then miss the orchestrator until a repair from legacy\)/);
    await page.locator('#confirm button[value="cancel"]').click();
  } finally {
    await stack.proxy.store.pool.query('DELETE FROM side_gaps');
  }
  await expect.poll(() => card(service).locator('[data-figure="legacy-behind"]').count(), { timeout: 15_000 }).toBe(0);
}, 60_000);

/**
 * An HTTP gateway in front of memshift, as an ingress is: `prefix`X to the `upstream` of each request's /X (`outside`
 * lists what was asked of other paths, the browser's look for the site's icon aside).
 */
async function gateway(host: string, prefix: string, upstream: (req: IncomingMessage) => string, outside: string[] = []) {
  const server = createServer((req, res) => {
    if (!req.url?.startsWith(`${prefix}/`)) {
      if (req.url !== '/favicon.ico') outside.push(req.url ?? '');
      res.writeHead(404).end();
      return;
    }
    const to = new URL(upstream(req));
    const up = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url.slice(prefix.length), headers: { ...req.headers, host: to.host } },
      (r) => {
        res.writeHead(r.statusCode!, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    url: `http://${host}:${(server.address() as AddressInfo).port}${prefix}/`,
    close: () => {
      // The browser's and fetch's keep-alive connections would hold close() for their idle timeouts.
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    },
  };
}

/** Logs `p` in at the console at `url` and waits for its figures. */
async function logIn(p: Page, url: string): Promise<void> {
  await p.goto(url);
  await p.locator('input[name="token"]').fill(TOKEN);
  await p.locator('button[type="submit"]').click();
  await p.locator(`section[data-service="${S}"] [data-figure="compared"]`).waitFor({ timeout: 20_000 });
}

/** The session cookie the browser holds for `url`, as a header. */
const cookieFor = async (url: string) => (await browser.context.cookies(url)).map((c) => `${c.name}=${c.value}`).join('; ');

it('works behind a proxy serving it under a path of its own (an ingress at /memshift/), asking nothing outside that path', async () => {
  const outside: string[] = [];
  const ingress = await gateway('127.0.0.3', '/memshift', () => stack.proxy.httpUrl, outside);
  // A report to link to.
  await fetch(`${stack.proxy.httpUrl}/admin/reports/${new Date().toISOString().slice(0, 10)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const behind = await browser.context.newPage();
  try {
    await logIn(behind, ingress.url);
    expect(behind.url()).toBe(ingress.url);
    const report = await behind.locator('#reports a').first().getAttribute('href', { timeout: 10_000 });
    const opened = await fetch(new URL(report!, ingress.url), { headers: { cookie: await cookieFor(ingress.url) } });
    expect(opened.status).toBe(200);
    expect(outside).toEqual([]);
  } finally {
    await behind.close();
    await ingress.close();
  }
});

it("keeps its session on every replica of a fleet a Service spreads its requests over, and a control posted to another replica than the login's acts", async () => {
  const replica = await startProxy(configFor(stack.sims, stack.databaseUrl, { admin: { token: TOKEN }, report: { dir: '' }, guard: { enabled: false } }), {
    flags: stack.flags,
  });
  // GETs to each replica in turn, the login to this proxy, every other POST to the other replica.
  let turn = 0;
  const hits = new Map<string, number>();
  const service = await gateway('127.0.0.4', '', (req) => {
    const to = req.method === 'GET' ? [stack.proxy.httpUrl, replica.httpUrl][turn++ % 2]! : req.url === '/login' ? stack.proxy.httpUrl : replica.httpUrl;
    hits.set(to, (hits.get(to) ?? 0) + 1);
    return to;
  });
  const fleetPage = await browser.context.newPage();
  try {
    await logIn(fleetPage, service.url);
    // Several refreshes later (every 2 s), each replica having answered some: still the console, not the login form.
    await expect.poll(() => Math.min(...[stack.proxy.httpUrl, replica.httpUrl].map((u) => hits.get(u) ?? 0)), { timeout: 20_000 }).toBeGreaterThan(8);
    expect(await fleetPage.locator('input[name="token"]').count()).toBe(0);
    // Each refresh says which replica answered (their figures since start are their own): both, in turn.
    const answeredBy = new Set<string>();
    await expect
      .poll(
        async () => {
          answeredBy.add((await fleetPage.locator('#source').textContent()) ?? '');
          return [...answeredBy].filter((t) => / · answered by replica \S+-\d+-[0-9a-f]{6}$/.test(t)).length;
        },
        { timeout: 20_000, interval: 250 },
      )
      .toBeGreaterThanOrEqual(2);
    // The page's session and CSRF token, taken by the replica that did not make them.
    const before = (await stack.proxy.store.pool.query(`SELECT count(*)::int AS n FROM operator_actions`)).rows[0].n as number;
    await fleetPage.locator(`section[data-service="${S}"] input[data-input="shadow-read"]`).fill('100');
    await fleetPage.locator(`section[data-service="${S}"] button[data-action="ramp-shadow-read"]`).click();
    await fleetPage.locator('#confirm-ok').click();
    await expect
      .poll(async () => (await stack.proxy.store.pool.query(`SELECT count(*)::int AS n FROM operator_actions`)).rows[0].n, { timeout: 10_000 })
      .toBe(before + 1);
    // The row is stored before the reply that sets the page's message.
    await expect.poll(() => fleetPage.locator('#message').getAttribute('class'), { timeout: 10_000 }).toBe('ok');
  } finally {
    await fleetPage.close();
    await service.close();
    await replica.close();
  }
});
