/**
 * Against a real Unleash 7 server: `flags sync` creates the flags through the Admin API (idempotently), turning and
 * ramping them in Unleash changes routing within the refresh interval, and the guard's rollback shows up in Unleash;
 * `memshift flags ramp` acts on it; a replica started while Unleash is out of reach serves the flags last fetched; a
 * production client token's controls act in production; a token refused a while does not freeze the flags; through
 * an Edge, memshift's own changes go to flags.adminUrl; a flag archived there is held at its last definition.
 *
 * Over 300 lines: one Unleash server for every case, since it is the slow part.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openFlags } from '../../src/flags/source.js';
import { flagTargetOf } from '../../src/dashboard/actions.js';
import { syncFlags } from '../../src/commands/flags.js';
import { flagsCli } from '../flags/helpers.js';
import { UnleashAdmin } from '../../src/admin/unleash-admin.js';
import { DEFAULT_FLAGS_FILE } from '../../src/flags/definitions.js';
import { allFlagNames, flagName } from '../../src/flags/names.js';
import { startProxy, type Proxy } from '../../src/proxy.js';
import type { ServedEvent } from '../../src/plan/observer.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { ReqClient } from '../support/zmq-client.js';
import { freshDatabaseUrl } from '../support/database.js';
import { freePort } from '../../src/util/ports.js';
import { configFor, startSims } from '../support/stack.js';
import { runCommand } from '../support/cli.js';
import { command as configCommand } from '../../src/commands/config.js';
import { command as statusCommand } from '../../src/commands/status.js';
import { SIM_SERVICES } from '../../src/tools/sim/services.js';
import { startUnleash, type UnleashServer } from '../support/unleash.js';

const S = 'jarvis-memory' as const;
const REFRESH_MS = 200;
let unleash: UnleashServer;
let admin: UnleashAdmin;
let sims: SimHandle;
let proxy: Proxy;
let storeUrl: string;
const served: ServedEvent[] = [];

beforeAll(async () => {
  [unleash, sims] = await Promise.all([startUnleash(), startSims()]);
  console.log(`unleash-server started in ${unleash.startMs} ms`);
  admin = new UnleashAdmin({ url: unleash.url, token: unleash.adminToken });
}, 90_000);
afterAll(async () => {
  await proxy?.close();
  await sims?.close();
  await unleash?.stop();
});

async function waitFor(ok: () => boolean | Promise<boolean>, ms: number): Promise<number> {
  const started = performance.now();
  while (!(await ok())) {
    if (performance.now() - started > ms) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return performance.now() - started;
}

/** Unleash publishes a change on its next revision poll (1 s), the client picks it up on its next fetch. */
const PROPAGATION_MS = 1000 + 2 * REFRESH_MS + 1500;

async function readUsers(users: string[]): Promise<ServedEvent[]> {
  const from = served.length;
  const c = new ReqClient(proxy.fronts[S]!);
  try {
    for (const u of users) await c.call({ action: 'get_memories', user_id: u });
  } finally {
    c.close();
  }
  return served.slice(from);
}

it('flags sync creates every flag, then finds nothing to change', async () => {
  const first = await syncFlags({ file: DEFAULT_FLAGS_FILE, url: unleash.apiUrl, token: unleash.adminToken });
  expect(first.filter((c) => c.endsWith(': created')).sort()).toEqual([...allFlagNames()].map((n) => `${n}: created`).sort());
  const rollout = await admin.feature(flagName(S, 'read-new'));
  const dev = rollout!.environments.find((e) => e.name === 'development')!;
  expect(dev.enabled).toBe(false);
  expect(dev.strategies).toEqual([
    expect.objectContaining({ name: 'flexibleRollout', parameters: { rollout: '0', stickiness: 'userId', groupId: flagName(S, 'read-new') } }),
  ]);
  expect(await syncFlags({ file: DEFAULT_FLAGS_FILE, url: unleash.apiUrl, token: unleash.adminToken })).toEqual([]);
});

it('turning and ramping flags in Unleash changes routing within the refresh interval', async () => {
  storeUrl = await freshDatabaseUrl();
  proxy = await startProxy(
    configFor(sims, storeUrl, {
      flags: { url: unleash.apiUrl, apiToken: unleash.clientToken, adminToken: unleash.adminToken, refreshIntervalMs: REFRESH_MS },
      // Far above what a busy machine adds to a p99 of a few dozen reads (100 ms tripped it in CI), far below the fault injected below.
      guard: { addedLatencyMs: { threshold: 300, minSamples: 10 } },
    }),
    { observers: [{ served: (e) => served.push(e) }] },
  );
  expect(proxy.flags.source).toBe('unleash');
  expect(proxy.flags.snapshot().services[S]!.stage).toBe('off');

  await admin.setEnabled(flagName(S, 'dual-write'), true);
  const tookMs = await waitFor(() => proxy.flags.snapshot().services[S]!.stage === 'dual-write', PROPAGATION_MS);
  console.log(`flag change visible to the proxy after ${Math.round(tookMs)} ms`);

  await admin.setRollout(flagName(S, 'shadow-read'), 100);
  await admin.setEnabled(flagName(S, 'shadow-read'), true);
  await admin.setRollout(flagName(S, 'read-new'), 100);
  await admin.setEnabled(flagName(S, 'read-new'), true);
  // Both of read-new's changes: Unleash may publish the rollout in one revision and the switch in the next.
  const service = () => proxy.flags.snapshot().services[S]!;
  await waitFor(() => service().stage === 'cutover' && service().flags[flagName(S, 'read-new')]!.rollout === 100, PROPAGATION_MS);
  const users = Array.from({ length: 200 }, (_, i) => `ramp-${i}`);
  expect((await readUsers(users.slice(0, 20))).map((e) => e.side)).toEqual(Array(20).fill('new'));

  await admin.setRollout(flagName(S, 'read-new'), 30);
  await waitFor(() => proxy.flags.snapshot().services[S]!.flags[flagName(S, 'read-new')]!.rollout === 30, PROPAGATION_MS);
  const ramped = await readUsers(users);
  expect(proxy.guard!.status(S)!.state, 'the guard rolled read-new back while the users read').toBe('watching');
  const share = ramped.filter((e) => e.side === 'new').length / ramped.length;
  expect(share).toBeGreaterThan(0.2);
  expect(share).toBeLessThan(0.4);
  // Sticky per user: the same users land on the same side again.
  expect((await readUsers(users)).map((e) => e.side)).toEqual(ramped.map((e) => e.side));
});

it("the guard's rollback shows up in Unleash, and a person turning the flag back on re-arms it", async () => {
  await admin.setRollout(flagName(S, 'read-new'), 100);
  await waitFor(() => proxy.flags.snapshot().services[S]!.flags[flagName(S, 'read-new')]!.rollout === 100, PROPAGATION_MS);
  // Users the orchestrator knows (written through the proxy, dual writes on), so reads reach it.
  const users = Array.from({ length: 15 }, (_, i) => `slow-${i}`);
  const c = new ReqClient(proxy.fronts[S]!);
  for (const u of users) await c.call({ action: 'add_memory', user_id: u, memory: 'm' });
  c.close();
  await waitFor(async () => (await proxy.runner.secondary.stats()).depth === 0, 5000);
  await sims.applyFaults('orchestrator', { latencyMs: 600 });
  const tripped = new Promise<void>((resolve) => proxy.guard!.onTrip(() => resolve()));
  await readUsers(users);
  await tripped;
  await sims.applyFaults('orchestrator', { latencyMs: 0 });

  const [event] = await proxy.guardEvents.list({ service: S });
  expect(event!.breaches.map((b) => b.rule)).toContain('addedLatencyMs');
  expect(event!.unleash.changed.sort()).toEqual([flagName(S, 'read-new'), flagName(S, 'shadow-read')].sort());
  expect(event!.flagsChanged).toEqual(expect.arrayContaining([{ flag: flagName(S, 'read-new'), to: 'off' }]));
  for (const kind of ['read-new', 'shadow-read'] as const) {
    const dev = (await admin.feature(flagName(S, kind)))!.environments.find((e) => e.name === 'development')!;
    expect(dev.enabled).toBe(false);
  }
  expect((await admin.feature(flagName(S, 'dual-write')))!.environments.find((e) => e.name === 'development')!.enabled).toBe(true);
  // Once Unleash shows the rollback, the local overrides are let go: Unleash is the truth again.
  await waitFor(() => Object.keys(proxy.flags.localOverrides()).length === 0, PROPAGATION_MS);
  expect(proxy.flags.snapshot().services[S]!.stage).toBe('dual-write');
  expect(proxy.guard!.status(S)!.state).toBe('tripped');

  await admin.setEnabled(flagName(S, 'read-new'), true);
  await waitFor(() => proxy.flags.snapshot().services[S]!.stage === 'cutover', PROPAGATION_MS);
  await waitFor(() => proxy.guard!.status(S)!.state === 'watching', 5000);
  expect((await readUsers(['back-1'])).map((e) => e.side)).toEqual(['new']);
});

it('memshift flags ramp acts on the real Unleash server; --dry-run changes nothing', async () => {
  const dev = async (kind: 'read-new' | 'shadow-read') => (await admin.feature(flagName(S, kind)))!.environments.find((e) => e.name === 'development')!;
  const state = async () => {
    const d = await dev('read-new');
    return { enabled: d.enabled, rollout: d.strategies?.find((s) => s.name === 'flexibleRollout')?.parameters?.rollout };
  };
  const before = await state();
  const target = ['--url', unleash.apiUrl, '--token', unleash.adminToken];
  const dry = await flagsCli(['ramp', S, 'read-new', '25', '--dry-run', ...target]);
  expect(dry.code).toBe(0);
  expect(dry.out).toMatch(/memshift\.jarvis-memory\.read-new\s+on 100%\s+->\s+on 25%/);
  expect(dry.out).toContain('dry run: nothing changed');
  expect(await state()).toEqual(before);

  const done = await flagsCli(['ramp', S, 'read-new', '25', ...target]);
  expect(done.code).toBe(0);
  expect(await state()).toEqual({ enabled: true, rollout: '25' });
  // The proxy reading these flags from Unleash sees the new share.
  await waitFor(() => proxy.flags.snapshot().services[S]!.flags[flagName(S, 'read-new')]!.rollout === 25, PROPAGATION_MS);

  const back = await flagsCli(['rollback', S, ...target]);
  expect(back.out).toMatch(/jarvis-memory stage\s+cutover\s+->\s+dual-write/);
  expect((await dev('read-new')).enabled).toBe(false);
  expect((await dev('shadow-read')).enabled).toBe(false);
});

it("a replica started while Unleash is out of reach serves the flags the fleet last fetched, not the file's", async () => {
  // After the rollback above Unleash says dual-write on, read-new and shadow-read off; the file says all off.
  const enabled = (r: unknown, kind: 'dual-write' | 'read-new') =>
    (r as { features: { name: string; enabled: boolean }[] }).features.find((f) => f.name === flagName(S, kind))?.enabled;
  await waitFor(async () => {
    const kept = await proxy.store.fetchedFlags.read('memshift');
    return enabled(kept, 'dual-write') === true && enabled(kept, 'read-new') === false;
  }, PROPAGATION_MS);
  const nowhere = `http://127.0.0.1:${await freePort()}/api/`;
  const replica = await startProxy(configFor(sims, storeUrl, { flags: { url: nowhere, apiToken: unleash.clientToken, refreshIntervalMs: REFRESH_MS } }));
  try {
    expect(replica.flags.source).toBe('unleash');
    expect(replica.flags.snapshot().services[S]!.stage).toBe('dual-write');
    expect(replica.flags.snapshot()).toEqual(proxy.flags.snapshot());
  } finally {
    await replica.close();
  }
});

it("acts in the environment its client token reads: a production token's controls change production, which its proxies see", async () => {
  const prodToken = unleash.productionClientToken;
  const inProduction = ['--url', unleash.apiUrl, '--token', unleash.adminToken, '--set', `flags.apiToken=${prodToken}`];
  const env = async (name: string) => {
    const e = (await admin.feature(flagName(S, 'read-new')))!.environments.find((x) => x.name === name)!;
    return { enabled: e.enabled, rollout: e.strategies?.find((s) => s.name === 'flexibleRollout')?.parameters?.rollout };
  };
  const synced = await flagsCli(['sync', ...inProduction]);
  expect(synced.code, synced.out).toBe(0);
  const development = await env('development');
  // A proxy of the production fleet (a store of its own: the fleet above shares its flags through its store).
  const replica = await startProxy(
    configFor(sims, await freshDatabaseUrl(), {
      flags: { url: unleash.apiUrl, apiToken: prodToken, adminToken: unleash.adminToken, refreshIntervalMs: REFRESH_MS },
    }),
  );
  try {
    const ramped = await flagsCli(['ramp', S, 'read-new', '40', ...inProduction]);
    expect(ramped.code, ramped.out).toBe(0);
    expect(await env('production')).toEqual({ enabled: true, rollout: '40' });
    expect(await env('development')).toEqual(development);
    await waitFor(() => replica.flags.snapshot().services[S]!.flags[flagName(S, 'read-new')]!.rollout === 40, PROPAGATION_MS);
  } finally {
    await replica.close();
  }
  // config check names the environment, and fails when one set in the config is not the token's.
  const sets = [
    `flags.url=${unleash.apiUrl}`,
    `flags.apiToken=${prodToken}`,
    `orchestrator.endpoint=${sims.endpoints.orchestrator}`,
    ...SIM_SERVICES.map((s) => `services.${s}.legacy.endpoint=${sims.endpoints[s]}`),
  ];
  const check = (extra: string[]) => runCommand(configCommand, ['check', ...[...sets, ...extra].flatMap((s) => ['--set', s])]);
  const agreed = await check([]);
  expect(agreed.out).toMatch(/^ok +Unleash environment production/m);
  const apart = await check(['flags.environment=development']);
  expect(apart.out).toMatch(/^FAIL +Unleash environment development .*: the client token \(flags\.apiToken\) reads production/m);
  expect(apart.code).toBe(1);
}, 60_000);

/**
 * An HTTP gateway in front of the Unleash server: each request answered with `refuse(req)`'s status where it gives one,
 * else forwarded. Returns the client API URL on it (…/api/).
 */
async function unleashGateway(refuse: (req: IncomingMessage) => number | undefined) {
  const gate = createServer((req, res) => {
    const status = refuse(req);
    if (status !== undefined) {
      res.writeHead(status).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'content-length')) as Record<string, string>;
      fetch(`${unleash.url}${req.url}`, { method: req.method, headers, ...(chunks.length ? { body: Buffer.concat(chunks) } : {}) })
        .then(async (r) => {
          // fetch has decoded the body: its length and encoding are not the upstream's any more.
          const kept = [...r.headers].filter(([k]) => k !== 'content-encoding' && k !== 'content-length');
          res.writeHead(r.status, Object.fromEntries(kept)).end(Buffer.from(await r.arrayBuffer()));
        })
        .catch(() => res.writeHead(502).end());
    });
  });
  await new Promise<void>((r) => gate.listen(0, '127.0.0.1', r));
  return {
    apiUrl: `http://127.0.0.1:${(gate.address() as AddressInfo).port}/api/`,
    close: () => {
      gate.closeAllConnections();
      return new Promise((r) => gate.close(r));
    },
  };
}

it('fetches again after Unleash (or an Edge in front of it) refused the client token a while: unleash-client itself stops for good on 401/403', async () => {
  // Refusing the client's fetches while `refusing`, as Unleash Edge answers a token it could not yet check upstream, or
  // Unleash itself a token rotated out and back.
  let refusing = false;
  let refused = 0;
  const gate = await unleashGateway((req) => {
    if (!refusing || !req.url?.startsWith('/api/client/features')) return undefined;
    refused++;
    return 403;
  });
  const flags = await openFlags({
    url: gate.apiUrl,
    apiToken: unleash.clientToken,
    refreshIntervalMs: REFRESH_MS,
    env: {},
  });
  const name = flagName('contextual-memory', 'dual-write');
  try {
    // Ready on the flags kept (the file's here) before Unleash's first answer, which follows.
    await waitFor(() => flags.fetching()?.answeredAt instanceof Date, 10_000);
    const was = flags.definition(name).enabled;
    refusing = true;
    await waitFor(() => refused > 0 && /403/.test(flags.fetching()?.failing ?? ''), 10_000);
    refusing = false;
    // A person's change in Unleash once the token is taken again: it reaches this replica.
    await admin.setEnabled(name, !was);
    await waitFor(() => flags.definition(name).enabled === !was, 30_000);
    expect(flags.fetching()?.failing).toBeUndefined();
    await admin.setEnabled(name, was);
  } finally {
    await flags.close();
    await gate.close();
  }
}, 60_000);

it('sends its own changes to flags.adminUrl where flags.url is an Unleash Edge, which serves the client API alone', async () => {
  // As Unleash Edge: the client API through, the Admin API not there.
  const edge = await unleashGateway((req) => (req.url?.startsWith('/api/client/') ? undefined : 404));
  const viaEdge = ['--set', `flags.url=${edge.apiUrl}`, '--set', `flags.apiToken=${unleash.clientToken}`, '--token', unleash.adminToken];
  const config = configFor(sims, await freshDatabaseUrl(), {
    flags: { url: edge.apiUrl, apiToken: unleash.clientToken, adminToken: unleash.adminToken, adminUrl: unleash.apiUrl, refreshIntervalMs: REFRESH_MS },
  });
  const replica = await startProxy(config);
  try {
    // Without it the Admin API is asked of the Edge, which has none.
    await expect(flagsCli(['ramp', S, 'shadow-read', '35', ...viaEdge])).rejects.toThrow(/has no Unleash Admin API .*flags\.adminUrl names the Unleash server/);
    const ramped = await flagsCli(['ramp', S, 'shadow-read', '35', ...viaEdge, '--set', `flags.adminUrl=${unleash.apiUrl}`]);
    expect(ramped.code, ramped.out).toBe(0);
    // Changed in Unleash, and seen through the Edge by a replica whose own controls go to the server too.
    await waitFor(() => replica.flags.snapshot().services[S]!.flags[flagName(S, 'shadow-read')]!.rollout === 35, PROPAGATION_MS);
    // The console's controls go there too.
    expect(flagTargetOf(config, replica.flags).name).toContain(unleash.apiUrl);
  } finally {
    await replica.close();
    await edge.close();
  }
}, 60_000);

it("holds a flag archived in Unleash at its last definition (a replica started later too) rather than taking it as off; revived, it is Unleash's again", async () => {
  const S2 = 'session-memory' as const;
  const readNew = flagName(S2, 'read-new');
  const users = Array.from({ length: 100 }, (_, i) => `held-${i}`);
  const draws = (p: Proxy) => users.map((u) => p.flags.decide(S2, { sessionId: u, userId: u }).readNew);
  const service = (p: Proxy) => p.flags.snapshot().services[S2]!;
  await admin.setEnabled(flagName(S2, 'dual-write'), true);
  await admin.setRollout(readNew, 50);
  await admin.setEnabled(readNew, true);
  await waitFor(() => service(proxy).stage === 'cutover' && service(proxy).flags[readNew]!.rollout === 50, PROPAGATION_MS);
  const before = draws(proxy);
  // memshift flags status, asking Unleash itself: its flags, not the file's (all off).
  const asked = await flagsCli(['status', '--url', unleash.apiUrl, '--set', `flags.apiToken=${unleash.clientToken}`]);
  expect(asked.out).toMatch(/^\s+session-memory\s+cutover\s/m);
  expect(before.filter(Boolean).length).toBeGreaterThan(25);
  expect(before.filter(Boolean).length).toBeLessThan(75);

  // Archived, as Unleash offers for a flag marked completed or stale: gone from the client API.
  const archived = await fetch(`${unleash.url}/api/admin/projects/default/features/${readNew}`, {
    method: 'DELETE',
    headers: { Authorization: unleash.adminToken },
  });
  expect(archived.ok, `archive: HTTP ${archived.status}`).toBe(true);
  await waitFor(() => proxy.flags.held().some((h) => h.name === readNew), PROPAGATION_MS);
  expect(service(proxy).stage).toBe('cutover');
  expect(service(proxy).flags[readNew]).toEqual({ enabled: true, rollout: 50, held: true });
  expect(draws(proxy), 'the same users drawn as before').toEqual(before);
  // Asked of Unleash alone, it is off, and said to be missing there.
  const shown = await flagsCli(['status', '--url', unleash.apiUrl, '--set', `flags.apiToken=${unleash.clientToken}`]);
  expect(shown.out).toMatch(new RegExp(`^not defined in Unleash, so off here: ${readNew.replace(/\./g, '\\.')} \\(`, 'm'));
  expect(shown.out).toMatch(/^\s+session-memory\s+dual-write\s/m);

  // memshift's controls cannot change it there, and say how to get it back.
  await expect(flagsCli(['ramp', S2, 'read-new', '60', '--url', unleash.apiUrl, '--token', unleash.adminToken])).rejects.toThrow(
    /no flag memshift\.session-memory\.read-new in Unleash project default \(never synced, or archived: memshift flags sync --keep-state/,
  );

  // A replica started now finds it in the flags the fleet kept, not in Unleash's answer.
  const replica = await startProxy(
    configFor(sims, storeUrl, {
      flags: { url: unleash.apiUrl, apiToken: unleash.clientToken, refreshIntervalMs: REFRESH_MS },
      admin: { token: 'held-token' },
    }),
  );
  try {
    await waitFor(() => replica.flags.fetching()?.answeredAt instanceof Date && replica.flags.held().some((h) => h.name === readNew), 30_000);
    expect(service(replica).stage).toBe('cutover');
    expect(draws(replica)).toEqual(before);
    // memshift status names it.
    const status = (await runCommand(statusCommand, ['--proxy', replica.httpUrl, '--token', 'held-token'])).out;
    expect(status).toMatch(new RegExp(`^FLAG NOT IN UNLEASH since \\S+: ${readNew.replace(/\./g, '\\.')} held at its last definition`, 'm'));
    expect(status).toMatch(/^session-memory\s+cutover\s+50% held\s/m);
  } finally {
    await replica.close();
  }

  // `flags sync` revives it (Unleash refuses its name to a new flag), off in every environment as Unleash revives a flag:
  // a definition again, which counts as any other.
  const synced = await syncFlags({ file: DEFAULT_FLAGS_FILE, url: unleash.apiUrl, token: unleash.adminToken, keepState: true });
  expect(synced).toEqual([expect.stringMatching(new RegExp(`^${readNew.replace(/\./g, '\\.')}: revived from Unleash's archive`))]);
  await waitFor(() => proxy.flags.held().length === 0, PROPAGATION_MS);
  expect(service(proxy).stage).toBe('dual-write');
  expect(service(proxy).flags[readNew]).toEqual({ enabled: false, rollout: 50 });
  await admin.setEnabled(flagName(S2, 'dual-write'), false);
}, 60_000);
