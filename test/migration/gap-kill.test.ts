/**
 * A gap survives kill -9: the first write a replica serves at complete waits for legacy's gap to be stored before it is
 * sent, so a replica killed outright right after answering it leaves the gap known to the store (not only to its next
 * flush, which it never makes). And a replica restarted at off after that knows from its start that the service went
 * further: its first write is the orchestrator's gap. The proxy runs as a child process on the test's database.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import pg from 'pg';
import { readFile, writeFile } from 'node:fs/promises';
import { startChild, waitForZmq, type Child } from '../../src/tools/bench/processes.js';
import { stopOrKill } from '../support/stop-child.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { startSims } from '../support/stack.js';
import { servingEndpoints } from '../support/serving.js';
import { ReqClient } from '../support/zmq-client.js';
import { flagsOn } from '../outbox/support.js';

const S = 'session-memory';
let sims: SimHandle;
let flags: Awaited<ReturnType<typeof flagsOn>>;
let url: string;
let child: Child | undefined;

beforeAll(async () => {
  sims = await startSims();
  flags = await flagsOn(S, 'dual-write', 'new-primary', 'legacy-off');
  url = await freshDatabaseUrl();
}, 60_000);
afterAll(async () => {
  if (child) await stopOrKill(child);
  await flags?.dispose();
  await sims?.close();
});

/** `memshift serve` for session-memory alone on the test's database and flags file; resolves with its front once it answers. */
async function serve(...extra: string[]): Promise<string> {
  child = startChild([
    'serve',
    ...['--set', `services.${S}.front=tcp://127.0.0.1:*`, '--set', `services.${S}.legacy.endpoint=${sims.endpoints[S]}`],
    ...['--set', 'services.contextual-memory.enabled=false', '--set', 'services.jarvis-memory.enabled=false'],
    ...['--set', `orchestrator.endpoint=${sims.endpoints.orchestrator}`, '--set', 'http.host=127.0.0.1', '--set', 'http.port=0'],
    ...['--set', `store.url=${url}`, '--set', `flags.file=${flags.file}`],
    ...extra,
  ]);
  const front = (await servingEndpoints(child))[S]!;
  await waitForZmq(front, '{"action": "health_check"}', 30_000);
  return front;
}

it("a write at complete waits for legacy's gap to be stored; a replica killed right after its answer leaves the gap in the store", async () => {
  // The bound on that wait, long here: the store is made slow on purpose below.
  const front = await serve('--set', 'outbox.intentTimeoutMs=20000');
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  const agent = new ReqClient(front, 30_000);
  try {
    // A slow store: the gap's INSERT waits behind this lock (reads go on).
    await db.query('BEGIN');
    await db.query('LOCK TABLE side_gaps IN SHARE MODE');
    let answered = false;
    const reply = agent.call({ action: 'create_session', session_id: 'k9' }).finally(() => (answered = true));
    await new Promise((r) => setTimeout(r, 1000));
    expect(answered).toBe(false);
    await db.query('COMMIT');
    expect(await reply).toMatchObject({ status: 'success' });
    // At once: the store flush (each second) has not run since the answer, or only by chance.
    child!.proc.kill('SIGKILL');
    await new Promise((resolve) => child!.proc.once('exit', resolve));
    const { rows } = await db.query(`SELECT service, side FROM side_gaps`);
    expect(rows, child!.output()).toEqual([{ service: S, side: 'legacy' }]);
  } finally {
    agent.close();
    await db.end();
  }
}, 60_000);

it("a replica restarted at off knows from its start that the service went further: its first write is the orchestrator's gap", async () => {
  // The flags file back to its defaults (all off), as a reinstalled package's own copy would be.
  await writeFile(flags.file, await readFile(new URL('../../flags/memshift.json', import.meta.url)));
  const agent = new ReqClient(await serve(), 30_000);
  try {
    expect(await agent.call({ action: 'create_session', session_id: 'after-reset' })).toMatchObject({ status: 'success' });
  } finally {
    agent.close();
  }
  // Stored before the answer (the first such write waits for its record): there already.
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const { rows } = await db.query(`SELECT side FROM side_gaps WHERE service = $1 ORDER BY side`, [S]);
    expect(
      rows.map((r: { side: string }) => r.side),
      child!.output(),
    ).toEqual(['legacy', 'new']);
  } finally {
    await db.end();
  }
}, 60_000);
