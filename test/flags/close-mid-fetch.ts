/**
 * Child process for unleash-server.test.ts: flags from an Unleash that holds the first fetch unanswered, closed
 * while that fetch is under way, which then fails (a garbled reply, then no Unleash at all). The process must end
 * of itself, exit code 0.
 */
import { createServer, type Socket } from 'node:net';
import { openFlags } from '../../src/flags/source.js';

async function main(): Promise<void> {
  const held: Socket[] = [];
  const server = createServer((socket) => void held.push(socket));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  const flags = await openFlags({ url: `http://127.0.0.1:${port}/api/`, refreshIntervalMs: 200, readyTimeoutMs: 100, env: {} });
  while (!held.length) await new Promise((r) => setTimeout(r, 20));
  await flags.close();
  for (const socket of held) socket.end('HTTP/1.1 garbled\r\n\r\n');
  server.close();
  console.log('closed mid-fetch');
}

void main();
