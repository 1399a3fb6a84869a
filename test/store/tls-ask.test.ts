/**
 * libpq's sslmode=prefer question (does this server take TLS?) answered late or not at all, through a TCP relay in
 * front of a plaintext PostgreSQL: a late answer is waited for, and an unanswered one fails the connection with why,
 * rather than a guess of TLS that the plaintext server then refuses ("The server does not support SSL connections").
 */
import { afterEach, expect, it } from 'vitest';
import { pgClient } from '../../src/util/pg-url.js';
import { freshDatabaseUrl } from '../support/database.js';
import { Relay } from '../support/relay.js';

const relays: Relay[] = [];

afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.close()));
});

/** A relay in front of a fresh plaintext database, and the URL through it (no sslmode: libpq's prefer). */
async function relayed(): Promise<{ relay: Relay; url: string }> {
  const through = await Relay.before(await freshDatabaseUrl());
  relays.push(through.relay);
  return through;
}

async function selectOne(url: string): Promise<number> {
  const client = pgClient(url, 'test', { connectionTimeoutMillis: 60_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one;
  } finally {
    await client.end().catch(() => undefined);
  }
}

it('waits for a late answer to the TLS question within the connection bound, and goes in plaintext', async () => {
  const { relay, url } = await relayed();
  // A server (or a machine) too busy to answer for 7 s.
  relay.freeze();
  setTimeout(() => relay.thaw(), 7_000);
  expect(await selectOne(url)).toBe(1);
}, 120_000);

it('fails a connection whose TLS question was not answered with why, and asks again for the next', async () => {
  const { relay, url } = await relayed();
  relay.cut();
  await expect(selectOne(url)).rejects.toThrow(/closed the connection before answering a TLS request/);
  relay.restore();
  expect(await selectOne(url)).toBe(1);
}, 120_000);
