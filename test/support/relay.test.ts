/**
 * The test relay's thaw forwards each byte once, on a connection frozen before or never frozen: a thaw of a relay not
 * frozen (every relayed stack's teardown) piped its open connections a second time, so a PostgreSQL client then
 * answering the store's password challenge sent its answer twice, and the store ended that session with "invalid
 * frontend message type 112", an error the suite caught uncaught (run 300).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { Relay } from './relay.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** A server recording what it receives and echoing it back. */
async function echo(): Promise<{ port: number; received: () => string }> {
  let received = '';
  const sockets: Socket[] = [];
  const server: Server = createServer((s) => (sockets.push(s), s.on('data', (b) => ((received += b.toString()), s.write(b)))));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => (sockets.forEach((s) => s.destroy()), server.close(() => resolve()))));
  return { port: (server.address() as AddressInfo).port, received: () => received };
}

async function through(relay: Relay): Promise<{ socket: Socket; got: () => string }> {
  const socket = connect(relay.port, '127.0.0.1');
  let got = '';
  socket.on('data', (b) => (got += b.toString()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  closers.push(async () => void socket.destroy());
  return { socket, got: () => got };
}

/** An echo server behind a relay, and a client through it whose first byte, 'a', has come back. */
async function started() {
  const server = await echo();
  const relay = await Relay.start({ host: '127.0.0.1', port: server.port });
  closers.push(() => relay.close());
  const client = await through(relay);
  client.socket.write('a');
  await expect.poll(() => client.got(), { timeout: 10_000, message: 'the first byte echoed' }).toBe('a');
  return { server, relay, client };
}

/** The second byte sent has come back, and each went once (a doubled pipe shows within a moment, both ways). */
async function expectEachOnce(s: Awaited<ReturnType<typeof started>>): Promise<void> {
  await expect.poll(() => s.client.got().length, { timeout: 10_000, message: 'the second byte echoed' }).toBeGreaterThanOrEqual(2);
  await new Promise((r) => setTimeout(r, 200));
  expect({ server: s.server.received(), client: s.client.got() }).toEqual({ server: 'ab', client: 'ab' });
}

it('forwards each byte once after a thaw of a connection never frozen', async () => {
  const s = await started();
  s.relay.thaw();
  s.client.socket.write('b');
  await expectEachOnce(s);
});

it('holds a frozen connection and forwards what waited, once, on thaw', async () => {
  const s = await started();
  s.relay.freeze();
  s.client.socket.write('b');
  await new Promise((r) => setTimeout(r, 200));
  expect(s.server.received()).toBe('a');
  s.relay.thaw();
  s.relay.thaw();
  await expectEachOnce(s);
});
