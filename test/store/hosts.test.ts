/**
 * A state store URL naming a list of hosts with target_session_attrs, as libpq takes it (a Patroni cluster without a
 * virtual IP: `postgres://u@standby:5432,primary:5432/db?target_session_attrs=read-write`): memshift writes to the host
 * that takes writes, and after a failover (the primary stopped, its standby promoted) to the new primary, with no change
 * to its configuration.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/store/embedded.js';
import { flagName } from '../../src/flags/names.js';
import { startProxy, type Proxy } from '../../src/proxy.js';
import { TempFlags } from '../flags/helpers.js';
import { newRecords, waitUntil } from '../outbox/support.js';
import { doneInOutbox as done, sessionWrites } from '../support/dual-writes.js';
import { configFor, startSims } from '../support/stack.js';
import { ReqClient } from '../support/zmq-client.js';
import { caughtUp, startStandby, type Standby } from '../support/standby.js';

const dir = mkdtempSync(join(tmpdir(), 'memshift-hosts-'));
let primary: EmbeddedPostgresHandle | undefined;
let standby: Standby | undefined;
let listed = '';

beforeAll(async () => {
  primary = await startEmbeddedPostgres({ dataDir: join(dir, 'primary'), settings: { wal_keep_size: '256MB' } });
  standby = await startStandby(primary, join(dir, 'standby'));
  const p = new URL(primary.url);
  const s = new URL(standby.url);
  // The standby first: a libpq client passes it over for the host that takes writes.
  listed = `postgres://${p.username}:${p.password}@127.0.0.1:${s.port},127.0.0.1:${p.port}${p.pathname}?target_session_attrs=read-write`;
}, 120_000);

afterAll(async () => {
  await standby?.stop();
  await primary?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The port of the server the proxy's store connections are on. */
async function storePort(proxy: Proxy): Promise<number> {
  const { rows } = await proxy.store.pool.query<{ port: number }>('SELECT inet_server_port() AS port');
  return rows[0]!.port;
}

/** A session created and written through the proxy, each call asked again until answered with success (a failover under way). */
async function writeSession(proxy: Proxy, session: string): Promise<void> {
  const agent = new ReqClient(proxy.fronts['session-memory']!, 10_000);
  try {
    for (const request of sessionWrites(session))
      await waitUntil(async () => ((await agent.call(request)) as { status?: string }).status === 'success', 60_000, `${request.action} answered`);
  } finally {
    agent.close();
  }
}

it('a running replica writes to the host of the list that takes writes, and after a failover to the promoted standby', async () => {
  const sims = await startSims();
  const temp = await TempFlags.create({ [flagName('session-memory', 'dual-write')]: { enabled: true } });
  const proxy = await startProxy(configFor(sims, listed), { flags: await temp.open() });
  try {
    await writeSession(proxy, 'hosts-before');
    await waitUntil(async () => (await done(proxy, 'hosts-before')) === 2, 30_000, 'the first session done in the outbox');
    expect(await storePort(proxy)).toBe(primary!.port);
    await caughtUp(primary!.url, standby!.url);

    // Failover: the primary goes away, its standby is promoted (as Patroni does); the proxy keeps running.
    await primary!.stop();
    const promote = new pg.Client({ connectionString: standby!.url });
    await promote.connect();
    try {
      await promote.query('SELECT pg_promote(true, 60)');
    } finally {
      await promote.end();
    }
    await writeSession(proxy, 'hosts-after');
    await waitUntil(async () => (await done(proxy, 'hosts-after')) === 2, 60_000, 'the second session done in the outbox');
    expect(await storePort(proxy)).toBe(Number(new URL(standby!.url).port));
    // Both sessions' writes on the orchestrator, and the first's outbox rows on the new primary (replicated).
    for (const session of ['hosts-before', 'hosts-after']) expect(newRecords(sims, session).contents).toHaveLength(1);
    expect(await done(proxy, 'hosts-before')).toBe(2);
  } finally {
    await proxy.close();
    await proxy.store.close();
    await temp.dispose();
    await sims.close();
  }
}, 180_000);
