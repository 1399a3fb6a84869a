/**
 * The bench's write-path scenario: session-memory writes in dual-write, paced, straight to the legacy service
 * (SessionMemoryAgent's write path in Python, committing each write as the agent does), through a proxy whose
 * secondary writes are only in memory, and through proxies that store an intent before answering (the durable
 * outbox; with and without a WAL flush per intent). The differences are what durability costs the agent.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pooled, runLoad, type LoadResult } from './load.js';
import { latencyRow, LATENCY_COLUMNS, signedMs, table } from './table.js';
import { freePort } from '../../util/ports.js';
import { HEALTH_CHECK, startChild, startSim, waitForZmq, type Child } from './processes.js';
import { pythonLegacyMissing, startPythonSessionMemory } from './python-legacy.js';
import { writeFlagsFile } from '../../flags/edit.js';
import { flagName } from '../../flags/names.js';
import { pyDumps } from '../../util/pyjson.js';
import { openStore } from '../../store/index.js';
import { scratchDir } from '../../util/scratch.js';

/**
 * Paced writes a proxy takes before its turn is measured: one started a second earlier is still compiling its hot
 * paths and opening its store connections (the durable path's p99 at 1,000/s: 10.7-11.4 ms measured after 1 s of
 * this, 7.9-8.8 ms after 5 s; the in-memory secondary's 4.8 and 4.2 ms).
 */
const WARM_MS = 5_000;

export interface WritePathOptions {
  clients: number;
  /** Measured time per target. */
  durationMs: number;
  /** Writes per second, all clients together. */
  rate: number;
  /** PostgreSQL for the proxies' state; an embedded one in a temp dir when absent. */
  databaseUrl?: string;
}

/** A legacy session-memory service the scenario runs against. */
interface Legacy {
  title: string;
  start(endpoint: string): Child;
}

export async function benchWritePath(o: WritePathOptions): Promise<string> {
  const dir = await scratchDir('memshift-bench-writes');
  const flagsFile = join(dir, 'flags.json');
  await writeFlagsFile(flagsFile, { [flagName('session-memory', 'dual-write')]: { enabled: true } });
  const orchestratorPort = await freePort();
  const missing = pythonLegacyMissing();
  const legacies: Legacy[] = [
    ...(missing
      ? []
      : [
          {
            title: "legacy: SessionMemoryAgent's write path in Python (pyzmq, sqlite3: a commit per write before the reply, as the agent)",
            start: (endpoint: string) => startPythonSessionMemory(endpoint, join(dir, 'session_memory.db')),
          },
        ]),
    {
      // What memshift itself adds, with no disk write of the legacy's beside it: the baseline of earlier rounds.
      title: `legacy: the simulator, holding its store in memory${missing ? ` (the Python service is skipped: ${missing})` : ''}`,
      start: (endpoint: string) => startSim({ 'session-memory': Number(new URL(endpoint).port) }),
    },
  ];
  const children: Child[] = [];
  // The bench's own store (embedded unless a server is given), so the proxies can come and go around it.
  const store = o.databaseUrl ? undefined : await openStore({ dataDir: join(dir, 'pg') });
  const storeUrl = o.databaseUrl ?? store!.embedded!.url;
  const env = { o, flagsFile, storeUrl, orchestrator: `tcp://127.0.0.1:${orchestratorPort}`, children };
  try {
    // The orchestrator apart from the legacy service, as they run.
    children.push(startSim({ orchestrator: orchestratorPort }));
    const sections: string[] = [];
    for (const legacy of legacies) {
      const endpoint = `tcp://127.0.0.1:${await freePort()}`;
      const child = legacy.start(endpoint);
      children.push(child);
      try {
        await waitForZmq(endpoint, HEALTH_CHECK);
        sections.push(report(o, legacy.title, ...(await scenario(env, endpoint))));
      } finally {
        await child.stop();
      }
    }
    return [`memshift bench: write path, session-memory in dual-write, ${o.clients} REQ clients paced at ${o.rate} writes/s in all`, ...sections].join('\n');
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

interface ScenarioEnv {
  o: WritePathOptions;
  flagsFile: string;
  storeUrl: string;
  orchestrator: string;
  children: Child[];
}

interface Saturation {
  direct: LoadResult;
  memory: LoadResult;
  durable: LoadResult;
}

/** Every path paced, in two rounds, then each at saturation, against the legacy service at `legacy`. */
async function scenario({ o, flagsFile, storeUrl, orchestrator, children }: ScenarioEnv, legacy: string): Promise<[Record<string, LoadResult>, Saturation]> {
  const intervalMs = (o.clients * 1000) / o.rate;
  let turns = 0;
  /**
   * `measure` on a path: straight to legacy, or through a proxy started for this turn alone (warmed, then stopped),
   * as one sidecar per service runs: two idle proxies beside the measured one cost it about 5 ms of p99.
   */
  const alone = async <T>(outbox: string[] | undefined, measure: (endpoint: string) => Promise<T>): Promise<T> => {
    if (!outbox) return measure(legacy);
    const front = `tcp://127.0.0.1:${await freePort()}`;
    const child = startChild([
      'serve',
      ...['--set', `services.session-memory.legacy.endpoint=${legacy}`, '--set', `services.session-memory.front=${front}`],
      ...['--set', 'services.contextual-memory.enabled=false', '--set', 'services.jarvis-memory.enabled=false'],
      ...['--set', `orchestrator.endpoint=${orchestrator}`, '--set', 'http.port=0'],
      ...['--set', `flags.file=${flagsFile}`, ...outbox.flatMap((x) => ['--set', `outbox.${x}`])],
      // A store of its own: the bench's writes must not linger in (or be replayed from) the default one.
      ...['--set', `store.url=${storeUrl}`],
    ]);
    children.push(child);
    try {
      await waitForZmq(front, HEALTH_CHECK, 60_000);
      await writes(front, `warm-${turns++}`, o.clients, WARM_MS, intervalMs);
      return await measure(front);
    } finally {
      await child.stop();
    }
  };
  const paths: [string, string[] | undefined][] = [
    ['direct', undefined],
    ['in-memory secondary', ['enabled=false']],
    // The default: intent before the primary call, synchronous commits, unknown outcomes looked up.
    ['durable outbox', []],
    // The previous default's commit mode, for comparison: no WAL flush waited for (a store crash loses writes).
    ['durable, async commit (unsafe)', ['unsafeAsyncCommit=true']],
    // Without the key's write-order lock in the store (one replica, or routing sticky per key): what the lock costs.
    ['durable, order per replica', ['keyOrder=replica']],
  ];
  // Two rounds, the second in reverse order: a path measured later in a run meets a fuller simulator and store
  // (measured last, the same path's p99 came out about twice its p99 measured first), so each gets an early turn.
  const rounds = new Map<string, LoadResult[]>(paths.map(([name]) => [name, []]));
  const tag = `${Date.now()}`;
  for (const [r, turn] of [paths, [...paths].reverse()].entries()) {
    for (const [name, outbox] of turn)
      rounds.get(name)!.push(await alone(outbox, (e) => writes(e, `${name}-${r}-${tag}`, o.clients, o.durationMs / 2, intervalMs)));
  }
  const results = Object.fromEntries(paths.map(([name]) => [name, pooled(rounds.get(name)!)]));
  // Saturation: every client writes as soon as its last write is answered.
  const saturated = (outbox: string[] | undefined, name: string) => alone(outbox, (e) => writes(e, `${name}-${tag}`, o.clients, o.durationMs / 2));
  const direct = await saturated(undefined, 'sat-direct');
  // Dual-write without the outbox: what the secondary write itself costs, apart from storing it.
  const memory = await saturated(['enabled=false'], 'sat-memory');
  const durable = await saturated([], 'sat-durable');
  return [results, { direct, memory, durable }];
}

/** Each client creates its session, then adds interactions to it; paced every `intervalMs`, or closed loop without it. */
async function writes(endpoint: string, tag: string, clients: number, durationMs: number, intervalMs?: number): Promise<LoadResult> {
  const session = (c: number) => `bench-${tag.replace(/\W+/g, '-')}-${c}`;
  const [result] = await runLoad({
    endpoints: [endpoint],
    clients,
    durationMs,
    ...(intervalMs ? { intervalMs } : {}),
    request: (c, n) =>
      n === 0
        ? pyDumps({ action: 'create_session', session_id: session(c) })
        : pyDumps({ action: 'add_interaction', session_id: session(c), role: 'user', content: `write ${n} from client ${c}` }),
    check: (reply) => reply.includes('"status": "success"'),
  });
  return result!;
}

function report(o: WritePathOptions, title: string, r: Record<string, LoadResult>, saturation: Saturation): string {
  const direct = r.direct!;
  const memory = r['in-memory secondary']!;
  const over = (x: LoadResult) => `p50 ${signedMs(x.p50 - memory.p50)} ms, p99 ${signedMs(x.p99 - memory.p99)} ms`;
  return [
    title,
    table(
      ['path', ...LATENCY_COLUMNS],
      Object.entries(r).map(([name, x]) => latencyRow(name, x, direct)),
    ),
    `durability (intent stored and flushed before the primary call), over the in-memory secondary: ${over(r['durable outbox']!)};`,
    `  without waiting for the WAL flush (outbox.unsafeAsyncCommit): ${over(r['durable, async commit (unsafe)']!)}`,
    `the key's write-order lock across replicas (outbox.keyOrder: replicas, the default), over keyOrder replica: ` +
      `p50 ${signedMs(r['durable outbox']!.p50 - r['durable, order per replica']!.p50)} ms, p99 ${signedMs(r['durable outbox']!.p99 - r['durable, order per replica']!.p99)} ms`,
    `  durable added p99 / in-memory added p99: ${addedRatio(r['durable outbox']!.p99 - direct.p99, memory.p99 - direct.p99)} (target <= 2x)`,
    `saturation (closed loop, ${o.clients} clients): direct ${saturation.direct.rps.toFixed(0)} writes/s, durable dual-write ${saturation.durable.rps.toFixed(0)} writes/s` +
      ` = ${(saturation.durable.rps / saturation.direct.rps).toFixed(2)} of direct (target >= 0.5); ${saturation.durable.errors} errors`,
    `  in-memory secondary ${saturation.memory.rps.toFixed(0)} writes/s = ${(saturation.memory.rps / saturation.direct.rps).toFixed(2)} of direct;` +
      ` durable / in-memory ${(saturation.durable.rps / saturation.memory.rps).toFixed(2)}`,
    '',
  ].join('\n');
}

/** A ratio of two added p99s; none when the in-memory secondary added nothing over direct (the run's noise decides its sign). */
function addedRatio(durable: number, memory: number): string {
  return memory > 0
    ? `${(durable / memory).toFixed(1)}x`
    : `none (the in-memory secondary's added p99 is ${signedMs(memory)} ms; durable's ${signedMs(durable)} ms)`;
}
