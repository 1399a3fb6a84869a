/**
 * For the hang and crash acceptance tests: memshift as a child process (so it can be killed with SIGKILL and
 * restarted on the same store), agents writing session-memory and jarvis-memory one request at a time with
 * what was acknowledged and when errors came, and the check of both sides' records per key.
 *
 * Over 300 lines: the child process, the agents and the checks that all six hang tests share.
 */
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect } from 'vitest';
import { HEALTH_CHECK, startChild, waitForZmq, type Child } from '../../src/tools/bench/processes.js';
import type { SimHandle, SimOptions, SimTarget } from '../../src/tools/sim/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { startSims } from '../support/stack.js';
import { servingEndpoints } from '../support/serving.js';
import { ReqClient } from '../support/zmq-client.js';
import { sleep, waitUntil } from '../outbox/support.js';
import { legacyRecords, newRecords, type WrittenService } from './records.js';

export { sleep, waitUntil };

export type { WrittenService };
export const WRITTEN: readonly WrittenService[] = ['session-memory', 'jarvis-memory'];

/** flags/memshift.json with the named flags on (e.g. memshift.jarvis-memory.dual-write), in a temp dir of its own. */
async function flagsWith(names: string[]): Promise<{ file: string; dispose(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'memshift-hangs-'));
  const file = join(dir, 'flags.json');
  await copyFile(new URL('../../flags/memshift.json', import.meta.url), file);
  const doc = JSON.parse(await readFile(file, 'utf8')) as { features: { name: string; enabled: boolean }[] };
  for (const name of names) doc.features.find((f) => f.name === name)!.enabled = true;
  await writeFile(file, JSON.stringify(doc));
  return { file, dispose: () => rm(dir, { recursive: true, force: true }) };
}

const stageFlags = (stage: 'dual-write' | 'new-primary'): string[] =>
  WRITTEN.flatMap((s) => [`memshift.${s}.dual-write`, ...(stage === 'new-primary' ? [`memshift.${s}.new-primary`] : [])]);

/**
 * For one test file: simulators in this process (so a test can hang them), flags for `stage`, and a memshift
 * child on a fresh PostgreSQL database (or, with `embedded`, on its own embedded PostgreSQL in a temp dir).
 */
export function useChildStack(o: {
  stage: 'dual-write' | 'new-primary';
  replicas?: number;
  embedded?: boolean;
  /** Simulator options, given the store's URL and the temp dir. */
  sims?: (at: { url: string; dir: string }) => SimOptions;
  extra?: string[];
  /** Backends served elsewhere (a simulator process of a test's own), in place of this process's simulators. */
  endpoints?: () => Partial<Record<SimTarget, string>>;
}) {
  let sims: SimHandle | undefined;
  let flags: Awaited<ReturnType<typeof flagsWith>> | undefined;
  let dir = '';
  let url = '';
  const children: MemshiftChild[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'memshift-hangs-'));
    if (!o.embedded) url = await freshDatabaseUrl();
    sims = await startSims(o.sims?.({ url, dir }) ?? {});
    flags = await flagsWith(stageFlags(o.stage));
    const store = o.embedded ? [`store.dataDir=${join(dir, 'pg')}`] : [`store.url=${url}`];
    for (let i = 0; i < (o.replicas ?? 1); i++)
      children.push(
        await MemshiftChild.start({ ...sims.endpoints, ...o.endpoints?.() }, { store, flagsFile: flags.file, ...(o.extra ? { extra: o.extra } : {}) }),
      );
  }, 120_000);
  afterAll(async () => {
    await Promise.all(children.map((c) => c.stop()));
    await flags?.dispose();
    await sims?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return { sims: () => sims!, memshift: (i = 0) => children[i]!, url: () => url, dir: () => dir };
}

/** A memshift child in front of `sims` for the two written services, restartable on its fronts and store. */
class MemshiftChild {
  child: Child | undefined;

  /** Until the first start: ports of the system's choosing, bound again by every restart (agents keep their endpoint). */
  fronts: Record<WrittenService, string> = { 'session-memory': 'tcp://127.0.0.1:*', 'jarvis-memory': 'tcp://127.0.0.1:*' };

  /** Its HTTP front (metrics, health), bound again by every restart. */
  http = '';

  private constructor(private readonly args: string[]) {}

  static async start(endpoints: Record<SimTarget, string>, o: { store: string[]; flagsFile: string; extra?: string[] }): Promise<MemshiftChild> {
    const set = (kv: string) => ['--set', kv];
    const args = [
      'serve',
      ...WRITTEN.flatMap((s) => set(`services.${s}.legacy.endpoint=${endpoints[s]}`)),
      ...set('services.contextual-memory.enabled=false'),
      ...set(`orchestrator.endpoint=${endpoints.orchestrator}`),
      ...set('http.host=127.0.0.1'),
      ...set('http.port=0'),
      ...set(`flags.file=${o.flagsFile}`),
      ...o.store.flatMap(set),
      // A killed owner's claims are taken over after this; the guard would rightly call a hang a latency breach.
      ...set('outbox.leaseMs=3000'),
      ...set('guard.enabled=false'),
      ...(o.extra ?? []).flatMap(set),
    ];
    const m = new MemshiftChild(args);
    await m.restart();
    return m;
  }

  async restart(): Promise<void> {
    const c = startChild([...this.args, ...WRITTEN.flatMap((s) => ['--set', `services.${s}.front=${this.fronts[s]}`])]);
    try {
      const bound = await servingEndpoints(c);
      for (const s of WRITTEN) this.fronts[s] = bound[s]!;
      this.http = bound.http!;
      for (const s of WRITTEN) await waitForZmq(this.fronts[s], HEALTH_CHECK, 60_000);
    } catch (err) {
      await c.stop('SIGKILL');
      throw new Error(`${(err as Error).message}\n${c.output()}`);
    }
    this.child = c;
  }

  /** kill -9, and wait for the process to be gone. */
  async kill(): Promise<void> {
    await this.child?.stop('SIGKILL');
    this.child = undefined;
  }

  /** Its outbox's depth, writes held in memory while the store was away included (the metric memshift_outbox_depth). */
  async outboxDepth(): Promise<number> {
    const text = await (await fetch(`${this.http}/metrics`)).text();
    return Number(/^memshift_outbox_depth(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? NaN);
  }

  get pid(): number {
    return this.child!.proc.pid!;
  }

  stop(): Promise<void> {
    return this.child?.stop() ?? Promise.resolve();
  }
}

/** What one agent wrote: its key, the records it sent in order with whether each was acknowledged, and when errors came. */
export interface Agent {
  service: WrittenService;
  key: string;
  acked: string[];
  /** When each request that failed was sent. */
  errorsAt: number[];
  /** Read-backs (LoadOptions.readEvery) whose reply lacked the agent's last acknowledged write. */
  staleReads: string[];
  /** Read-backs made, and those answered with an error (a refusal rather than a stale reply counts here), by the error's words. */
  reads: { made: number; failed: number; why: Map<string, number> };
}

export interface LoadOptions {
  prefix: string;
  /** Agents per service. */
  agents: Record<WrittenService, number>;
  /** Each agent's pace (one request at a time in any case). */
  intervalMs: number;
  /** Where agent `a` of `service` sends its `n`-th request (replicas: alternate). */
  endpoint(service: WrittenService, a: number, n: number): string;
  timeoutMs?: number;
  /** Every this many requests an agent reads its key back instead (get_context, get_memories) and looks for its last acknowledged write. */
  readEvery?: number;
}

/** Agents each writing their own key (a session, a user) until stopped; a record is `<key> #<n>`. */
export class Load {
  readonly agents: Agent[] = [];
  /** When each acknowledgement came, all agents together. */
  private readonly ackTimes: number[] = [];
  private stopping = false;
  private readonly running: Promise<void>[] = [];

  constructor(private readonly o: LoadOptions) {
    for (const service of WRITTEN) {
      for (let a = 0; a < o.agents[service]; a++) {
        const agent: Agent = {
          service,
          key: `${o.prefix}-${service === 'jarvis-memory' ? 'u' : 's'}${a}`,
          acked: [],
          errorsAt: [],
          staleReads: [],
          reads: { made: 0, failed: 0, why: new Map() },
        };
        this.agents.push(agent);
        this.running.push(this.run(agent, a));
      }
    }
  }

  get acked(): number {
    return this.agents.reduce((n, a) => n + a.acked.length, 0);
  }

  /** Acknowledgements that came within [from, to). */
  ackedBetween(from: number, to: number): number {
    return this.ackTimes.filter((t) => t >= from && t < to).length;
  }

  /** Agent-visible errors of requests sent outside the given windows (when memshift itself was down, say). */
  errorsOutside(windows: [number, number][]): number {
    return this.agents.flatMap((a) => a.errorsAt).filter((t) => !windows.some(([from, to]) => t >= from && t <= to)).length;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
  }

  private ack(agent: Agent, record: string): void {
    agent.acked.push(record);
    this.ackTimes.push(Date.now());
  }

  private async run(agent: Agent, a: number): Promise<void> {
    const clients = new Map<string, ReqClient>();
    /** Whether `ok` took the reply; else `why` hears the error's words (a timeout's, or the reply's). */
    const call = async (endpoint: string, request: unknown, ok: (reply: Record<string, unknown>) => boolean, why?: (error: string) => void) => {
      let c = clients.get(endpoint);
      if (!c) clients.set(endpoint, (c = new ReqClient(endpoint, this.o.timeoutMs ?? 5_000)));
      const sentAt = Date.now();
      try {
        const reply = (await c.call(request)) as Record<string, unknown>;
        if (ok(reply)) return true;
        why?.(String(reply.message ?? reply.reason ?? reply.status));
      } catch (err) {
        why?.(`no reply: ${(err as Error).message}`);
        // A REQ socket that timed out is stuck: a new one next time.
        c.close();
        clients.delete(endpoint);
      }
      agent.errorsAt.push(sentAt);
      return false;
    };
    let created = agent.service === 'jarvis-memory';
    try {
      for (let n = 0; !this.stopping; n++) {
        const next = Date.now() + this.o.intervalMs;
        const endpoint = this.o.endpoint(agent.service, a, n);
        const record = `${agent.key} #${n}`;
        const last = agent.acked.at(-1);
        if (!created) {
          created = await call(endpoint, { action: 'create_session', session_id: agent.key, user_id: agent.key }, (r) => r.status === 'success');
        } else if (this.o.readEvery && n % this.o.readEvery === 0 && last) {
          // Read your writes: a reply that lacks the last acknowledged write is stale (an error is not).
          const request =
            agent.service === 'session-memory' ? { action: 'get_context', session_id: agent.key } : { action: 'get_memories', user_id: agent.key };
          agent.reads.made++;
          const answered = await call(
            endpoint,
            request,
            (r) => {
              if (r.status !== 'success' && r.status !== 'ok') return false;
              if (!JSON.stringify(r).includes(`"${last}"`)) agent.staleReads.push(last);
              return true;
            },
            (error) => agent.reads.why.set(error, (agent.reads.why.get(error) ?? 0) + 1),
          );
          if (!answered) agent.reads.failed++;
        } else if (agent.service === 'session-memory') {
          const request = { action: 'add_interaction', session_id: agent.key, role: n % 2 ? 'assistant' : 'user', content: record };
          if (await call(endpoint, request, (r) => r.status === 'success')) this.ack(agent, record);
        } else if (await call(endpoint, { action: 'add_memory', user_id: agent.key, memory: { record } }, (r) => r.status === 'ok')) {
          this.ack(agent, record);
        }
        await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
      }
    } finally {
      for (const c of clients.values()) c.close();
    }
  }
}

/** Whether both sides hold the same records for every agent's key (the outbox has caught up). */
export const sidesEqual = (sims: SimHandle, load: Load): boolean =>
  load.agents.every((a) => JSON.stringify(legacyRecords(sims, a)) === JSON.stringify(newRecords(sims, a)));

/** Both sides' records of each agent's key: read from simulators in this process, or fetched from a child's. */
export type SidesOf = (agent: Agent) => { legacy: string[]; fresh: string[] };

/** How many records show more than once. */
const duplicates = (records: string[]): number => records.length - new Set(records).size;

/**
 * Every acknowledged write on both sides, none twice, in the same order on both; unacknowledged writes
 * (memshift died before the agent's answer) are on both sides or on neither.
 */
export function expectSidesAgree(sims: SimHandle | SidesOf, load: Load): void {
  const sides: SidesOf = typeof sims === 'function' ? sims : (a) => ({ legacy: legacyRecords(sims, a), fresh: newRecords(sims, a) });
  let dupLegacy = 0;
  let dupNew = 0;
  for (const agent of load.agents) {
    const { legacy, fresh } = sides(agent);
    dupLegacy += duplicates(legacy);
    dupNew += duplicates(fresh);
    expect(legacy, `${agent.key}: acknowledged writes on legacy`).toEqual(expect.arrayContaining(agent.acked));
    expect(fresh, `${agent.key}: the orchestrator holds what legacy holds, in its order`).toEqual(legacy);
  }
  expect({ dupLegacy, dupNew }).toEqual({ dupLegacy: 0, dupNew: 0 });
}

export async function openRows(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return Number((await c.query(`SELECT count(*) AS n FROM outbox WHERE open`)).rows[0].n);
  } finally {
    await c.end();
  }
}

/**
 * Writers on both services while backends hang (`hang`) three times: resumed before memshift's first timeout, during
 * the first retries, and after memshift was killed (SIGKILL) and restarted mid-hang. Resolves once the load
 * stopped and the outbox drained, with the window memshift was down.
 */
export async function threeHangs(
  hang: (on: boolean) => Promise<unknown>,
  memshift: MemshiftChild,
  url: string,
  prefix: string,
): Promise<{ load: Load; down: [number, number] }> {
  const load = new Load({ prefix, agents: { 'session-memory': 12, 'jarvis-memory': 12 }, intervalMs: 100, endpoint: (s) => memshift.fronts[s] });
  await sleep(1_500);
  await hang(true);
  await sleep(1_000);
  await hang(false);
  await sleep(1_500);
  await hang(true);
  await sleep(6_000);
  await hang(false);
  await sleep(1_500);
  await hang(true);
  const hungAt = Date.now();
  await sleep(3_000);
  const killedAt = Date.now();
  await memshift.kill();
  await memshift.restart();
  const upAt = Date.now() + 1_000;
  await sleep(Math.max(0, 15_000 - (Date.now() - hungAt)));
  await hang(false);
  await sleep(2_000);
  await load.stop();
  await waitUntil(async () => (await openRows(url)) === 0, 120_000, 'outbox drained');
  // Requests in flight at the kill were sent a moment before it.
  return { load, down: [killedAt - 1_000, upAt] };
}
