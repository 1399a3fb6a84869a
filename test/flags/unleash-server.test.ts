// Against a stand-in Unleash server (real HTTP, the client-features API): the same definitions must
// behave as they do offline, the file bootstraps until the first fetch, refreshes apply, and closing them
// while a fetch is under way leaves the process alive.
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { flagName } from '../../src/flags/names.js';
import { applyEdits, ids, on, rollout, shippedDoc, TempFlags, waitFor, type Edits } from './helpers.js';

const dualWrite = (s: 'session-memory' | 'jarvis-memory') => flagName(s, 'dual-write');
const readNew = flagName('session-memory', 'read-new');

let server: Server;
let baseUrl: string;
let served: Edits = {};
let hold: Promise<void> = Promise.resolve();
const seen: Array<{ path: string; auth: string | undefined }> = [];

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    seen.push({ path: req.url ?? '', auth: req.headers.authorization });
    req.resume();
    if (req.method === 'GET' && req.url?.startsWith('/api/client/features')) {
      void hold.then(async () => {
        const body = JSON.stringify(applyEdits(await shippedDoc(), served));
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      });
      return;
    }
    res.writeHead(202).end(); // client registration and metrics
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

let temps: TempFlags[] = [];
afterEach(async () => {
  await Promise.all(temps.map((t) => t.dispose()));
  temps = [];
  hold = Promise.resolve();
  served = {};
});
async function temp(edits: Edits) {
  const t = await TempFlags.create(edits);
  temps.push(t);
  return t;
}

describe('with an Unleash server', () => {
  it('answers from the bootstrap file until the first fetch, then from the server', async () => {
    let release!: () => void;
    hold = new Promise((r) => (release = r));
    served = on(dualWrite('session-memory'));
    const t = await temp(on(dualWrite('jarvis-memory')));
    const flags = await t.open({ url: baseUrl, apiToken: 'default:development.secret', refreshIntervalMs: 200 });
    let changes = 0;
    flags.onChange(() => changes++);
    expect(flags.source).toBe('unleash');
    expect(flags.decide('jarvis-memory', { userId: 'u' }).dualWrite).toBe(true);
    expect(flags.decide('session-memory', { sessionId: 's' }).dualWrite).toBe(false);

    release();
    await waitFor(() => flags.decide('session-memory', { sessionId: 's' }).dualWrite);
    expect(flags.decide('jarvis-memory', { userId: 'u' }).dualWrite).toBe(false);
    expect(changes).toBe(1);
    const fetches = seen.filter((r) => r.path.startsWith('/api/client/features'));
    expect(fetches.length).toBeGreaterThan(0);
    expect(fetches.every((r) => r.auth === 'default:development.secret')).toBe(true);
  });

  it('applies a refresh, and the same rollout definitions answer exactly as offline', async () => {
    const t = await temp({});
    const flags = await t.open({ url: baseUrl, refreshIntervalMs: 200 });
    served = { ...on(dualWrite('session-memory')), ...rollout(readNew, 40) };
    await waitFor(() => flags.snapshot().services['session-memory']!.stage === 'cutover');

    await t.write(served);
    const offline = await t.open();
    const sessions = ids('same', 2000);
    const remote = sessions.map((sessionId) => flags.decide('session-memory', { sessionId }));
    expect(sessions.map((sessionId) => offline.decide('session-memory', { sessionId }))).toEqual(remote);
    const share = remote.filter((d) => d.readNew).length / sessions.length;
    expect(share).toBeGreaterThan(0.36);
    expect(share).toBeLessThan(0.44);
  });

  it('with the server unreachable, runs on the bootstrap file without failing', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise((r) => dead.close(r));

    const t = await temp(on(dualWrite('session-memory')));
    const flags = await t.open({ url: `http://127.0.0.1:${port}/api/`, refreshIntervalMs: 200 });
    expect(flags.decide('session-memory', { sessionId: 's' }).dualWrite).toBe(true);
    await new Promise((r) => setTimeout(r, 500)); // a few failed polls
    expect(flags.snapshot().services['session-memory']!.stage).toBe('dual-write');
  });

  it('closed while a fetch is under way that then fails, the process lives on (a shutdown during an Unleash outage)', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/flags/close-mid-fetch.ts'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(out).toContain('closed mid-fetch');
    expect(code, out.slice(-2_000)).toBe(0);
  }, 30_000);
});
