/**
 * libpq's sslmode=prefer question (does this server take TLS?) answered late or not at all, through a TCP relay in
 * front of a plaintext PostgreSQL: a late answer is waited for, and an unanswered one fails the connection with why,
 * rather than a guess of TLS that the plaintext server then refuses ("The server does not support SSL connections").
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { pgClient } from '../../src/util/pg-url.js';
import { freshDatabaseUrl } from '../support/database.js';

/** What the relay does to the first connection it takes; later ones pass as they are. */
type First = 'answer late' | 'close';

const relays: Server[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(relays.splice(0).map((r) => new Promise((resolve) => r.close(resolve))));
});

/** A relay to `target`'s server, doing `first` to its first connection; the URL through it, with no sslmode. */
async function relayed(target: string, first: First, lateMs = 0): Promise<string> {
  const url = new URL(target);
  const to = { host: url.hostname, port: Number(url.port) };
  let taken = 0;
  const relay = createServer((client) => {
    sockets.push(client);
    if (taken++ === 0 && first === 'close') {
      client.destroy();
      return;
    }
    const server = connect(to);
    sockets.push(server);
    const late = taken === 1 && first === 'answer late';
    client.on('data', (d) => server.write(d));
    // The server's answers held back for a while: a server (or a machine) too busy to answer at once.
    server.on('data', (d) => (late ? setTimeout(() => client.write(d), lateMs) : client.write(d)));
    for (const [a, b] of [
      [client, server],
      [server, client],
    ] as const) {
      a.on('error', () => b.destroy());
      a.on('close', () => b.destroy());
    }
  });
  relays.push(relay);
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  url.host = `127.0.0.1:${(relay.address() as { port: number }).port}`;
  return url.toString();
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
  const url = await relayed(await freshDatabaseUrl(), 'answer late', 7_000);
  expect(await selectOne(url)).toBe(1);
}, 120_000);

it('fails a connection whose TLS question was not answered with why, and asks again for the next', async () => {
  const url = await relayed(await freshDatabaseUrl(), 'close');
  await expect(selectOne(url)).rejects.toThrow(/closed the connection before answering a TLS request/);
  expect(await selectOne(url)).toBe(1);
}, 120_000);
