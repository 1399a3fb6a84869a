/**
 * The ZeroMQ leg whose connection goes silent (the backend's host lost, a stale connection after a network cut: no
 * answer, no close): it gives the connection up once its ZeroMQ heartbeats go unanswered and dials again, where TCP
 * alone would retransmit into it for a quarter of an hour. The backend is Python's pyzmq, as the legacy services are.
 */
import { readFile } from 'node:fs/promises';
import { afterEach, expect, it } from 'vitest';
import { createLeg } from '../../src/legs/index.js';
import { cutPort } from '../support/port-cut.js';
import { startPythonRep } from './backends.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Local ports of the established connections to `port` (the client's end), from /proc/net/tcp. */
async function clientPorts(port: number): Promise<number[]> {
  const rows = (await readFile('/proc/net/tcp', 'utf8')).split('\n').slice(1);
  return rows
    .map((r) => r.trim().split(/\s+/))
    .filter((f) => f[3] === '01' && parseInt(f[2]!.split(':')[1]!, 16) === port)
    .map((f) => parseInt(f[1]!.split(':')[1]!, 16));
}

it('dials again, and is answered, once the connection it has goes silent', async () => {
  const rep = await startPythonRep();
  cleanups.push(() => rep.close());
  const { port } = rep;
  const leg = createLeg(rep.endpoint, { timeoutMs: 1_000, breaker: { failureThreshold: 1_000, openMs: 1_000 } });
  cleanups.push(() => leg.close());
  const call = async (text: string) => (await leg.call(text)).toString();
  const deadline = Date.now() + 30_000;
  const until = async (text: string) => {
    for (;;) {
      try {
        return await call(text);
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };
  expect(await until('before')).toBe('before');
  const [local, ...others] = await clientPorts(port);
  expect(others, 'one connection to the backend').toEqual([]);
  const cut = await cutPort(local!);
  cleanups.push(() => cut.restore());
  // Fresh connections go through: only the one the leg has is cut, as a stale one is after its peer's host left.
  expect(await until('after')).toBe('after');
  expect(await clientPorts(port)).not.toContain(local);
}, 60_000);
