/**
 * For the outbox tests: a dual-write flags file, a steady write load of agents that each own a session and
 * remember which writes were acknowledged, and both sides' records of a session read from the simulators.
 */
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { expect } from 'vitest';
import { flagName } from '../../src/flags/names.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import type { ServiceName } from '../../src/services/registry.js';
import { useReplicas, type Replicas } from '../support/replicas.js';
import { ReqClient, requestOnce } from '../support/zmq-client.js';

/** flags/memshift.json in a temp dir with these of `service`'s flags on (`dual-write`, `new-primary`, ...). */
export async function flagsOn(service: ServiceName, ...flags: string[]): Promise<{ file: string; dispose(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'memshift-outbox-'));
  const file = join(dir, 'flags.json');
  await copyFile(new URL('../../flags/memshift.json', import.meta.url), file);
  const doc = JSON.parse(await readFile(file, 'utf8')) as { features: { name: string; enabled: boolean }[] };
  for (const flag of flags) doc.features.find((f) => f.name === `memshift.${service}.${flag}`)!.enabled = true;
  await writeFile(file, JSON.stringify(doc));
  return { file, dispose: () => rm(dir, { recursive: true, force: true }) };
}

/** session-memory at dual-write with `more` of its flags on too (new-primary). */
export const dualWriteFlags = (...more: string[]): Promise<{ file: string; dispose(): Promise<void> }> => flagsOn('session-memory', 'dual-write', ...more);

export interface LoadOptions {
  prefix: string;
  agents: number;
  intervalMs: number;
  /** Where agent `a` sends its `n`-th write (two proxies: alternate). */
  endpoint(a: number, n: number): string;
  /**
   * How long an agent waits for an answer; default 10 s. A hang still fails a write, a slow answer on a busy machine
   * does not: memshift's own bounds (a lock statement's 1 s, an intent's 0.5 s) are given their time again when their
   * timer fires late (`firedPaused`), so a stalled event loop stretches a write's wait well past their sum.
   */
  timeoutMs?: number;
}

/**
 * Agents each create their session, then add one interaction every intervalMs until stopped, one request
 * at a time like a REQ agent. A write is acknowledged when its reply says success.
 */
export class WriteLoad {
  readonly acked = new Map<string, string[]>();
  /** The errors' words (a reply's, or the call's failure), counted: a failing `errors` assertion prints them (`report`). */
  readonly why = new Map<string, number>();
  /** The slowest answer's wait and when its write was sent, both in ms (the latter since the load began). */
  slowest = { ms: 0, sentAt: 0 };
  private readonly began = performance.now();
  sent = 0;
  private stopping = false;
  private readonly running: Promise<void>[];

  constructor(private readonly o: LoadOptions) {
    this.running = Array.from({ length: o.agents }, (_, a) => this.agent(a));
  }

  session(a: number): string {
    return `${this.o.prefix}-${a}`;
  }

  get sessions(): string[] {
    return Array.from({ length: this.o.agents }, (_, a) => this.session(a));
  }

  /** Writes answered with an error, or with no reply. */
  get errors(): number {
    return [...this.why.values()].reduce((n, k) => n + k, 0);
  }

  /** What a failing `errors` assertion prints: the errors' words counted, and the slowest answer. */
  get report(): string {
    return JSON.stringify({ why: [...this.why], slowest: this.slowest });
  }

  get ackedCount(): number {
    return [...this.acked.values()].reduce((n, l) => n + l.length, 0);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
  }

  private async agent(a: number): Promise<void> {
    const sid = this.session(a);
    this.acked.set(sid, []);
    const clients = new Map<string, ReqClient>();
    const call = async (endpoint: string, req: unknown): Promise<boolean> => {
      let c = clients.get(endpoint);
      if (!c) clients.set(endpoint, (c = new ReqClient(endpoint, this.o.timeoutMs ?? 10_000)));
      this.sent++;
      let words: string;
      const started = performance.now();
      try {
        const reply = (await c.call(req)) as { status?: string; message?: unknown };
        const ms = Math.round(performance.now() - started);
        if (ms > this.slowest.ms) this.slowest = { ms, sentAt: Math.round(started - this.began) };
        if (reply.status === 'success') return true;
        words = String(reply.message ?? JSON.stringify(reply));
      } catch (err) {
        words = `no reply: ${(err as Error).message}`;
        // A REQ socket that timed out is stuck: a new one next time.
        c.close();
        clients.delete(endpoint);
      }
      this.why.set(words, (this.why.get(words) ?? 0) + 1);
      return false;
    };
    try {
      let created = false;
      for (let n = 0; !this.stopping; n++) {
        const next = Date.now() + this.o.intervalMs;
        if (!created) created = await call(this.o.endpoint(a, n), { action: 'create_session', session_id: sid, user_id: `user-${a}` });
        else {
          const content = `${sid} #${n}`;
          if (await call(this.o.endpoint(a, n), { action: 'add_interaction', session_id: sid, role: n % 2 ? 'assistant' : 'user', content })) {
            this.acked.get(sid)!.push(content);
          }
        }
        await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
      }
    } finally {
      for (const c of clients.values()) c.close();
    }
  }
}

/** The session's interactions on the legacy side, in order. */
export function legacyContents(sims: SimHandle, sid: string): string[] {
  return (sims.models['session-memory'].sessions.get(sid)?.interactions ?? []).map((i) => i.content);
}

/** The orchestrator's view: its sessions for the legacy session, and their conversation memories in insertion order. */
export function newRecords(sims: SimHandle, sid: string): { sessions: number; contents: string[] } {
  const o = sims.models.orchestrator;
  const ids = new Set([...o.sessions.values()].filter((s) => s.metadata.legacy_session_id === sid).map((s) => s.session_id));
  const contents = [...o.memories.values()]
    .filter((m) => ids.has(m.session_id) && m.is_active && m.memory_type === 'conversation')
    .sort((a, b) => a.seq - b.seq)
    .map((m) => String(m.content.text));
  return { sessions: ids.size, contents };
}

/** Adjacent repeats collapsed: a write applied, then replayed because its reply was lost. */
export const collapse = (l: string[]): string[] => l.filter((v, i) => v !== l[i - 1]);

/**
 * Every write on both sides and in order: legacy holds what was acknowledged (and perhaps more), new equals
 * legacy. `replays` is how many writes may show twice in a row on new in all: the orchestrator's create has no
 * idempotency key, so a write whose reply was lost as the orchestrator went away is applied again.
 */
export function expectBothSidesEqual(sims: SimHandle, load: WriteLoad, replays = 0): void {
  // Each repeat named (a content shown twice in a row, a session made again), so that a failure says which writes.
  const repeats: string[] = [];
  for (const sid of load.sessions) {
    const legacy = legacyContents(sims, sid);
    expect(legacy, sid).toEqual(expect.arrayContaining(load.acked.get(sid)!));
    const fresh = newRecords(sims, sid);
    expect(fresh.sessions, `${sid}: orchestrator sessions`).toBeGreaterThanOrEqual(1);
    expect(collapse(fresh.contents), sid).toEqual(legacy);
    repeats.push(...fresh.contents.filter((c, i) => c === fresh.contents[i - 1]));
    // A replayed create_session leaves a second, empty session behind.
    for (let n = 1; n < fresh.sessions; n++) repeats.push(`${sid}: a session made again`);
  }
  expect(repeats.length, `writes applied twice: ${repeats.join(', ')}`).toBeLessThanOrEqual(replays);
}

/** One query on a connection of its own (the test's view of the store, beside the proxy's pools). */
export async function queryOnce<R extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  // A connection the server ends between statements (the chaos probe's store crash) fails the call, not the process.
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query<R>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

export async function openRows(url: string): Promise<{ open: number; dead: number; done: number }> {
  const [r] = await queryOnce<{ open: string; dead: string; done: string }>(
    url,
    `SELECT count(*) FILTER (WHERE status IN ('pending', 'inflight')) AS open,
            count(*) FILTER (WHERE status = 'dead') AS dead,
            count(*) FILTER (WHERE status = 'done') AS done FROM outbox`,
  );
  return { open: Number(r!.open), dead: Number(r!.dead), done: Number(r!.done) };
}

/** The outbox's open rows, one line each: what a drain that timed out was still waiting for. */
export async function describeOpenRows(url: string): Promise<string> {
  const rows = await queryOnce(
    url,
    `SELECT key, seq, side, status, attempts, owner, sent, primary_ok, next_attempt_at - now() AS due_in, last_error
       FROM outbox WHERE open ORDER BY key, seq LIMIT 20`,
  );
  return rows.map((r) => JSON.stringify(r)).join('\n');
}

/** What a wait on the outbox that ran out prints: its stats, then its open rows. */
export const outboxLeft =
  (secondary: { stats(): Promise<unknown> }, url: string): (() => Promise<string>) =>
  async () =>
    `${JSON.stringify(await secondary.stats())}\n${await describeOpenRows(url)}`;

/** Polls until cond() holds; resolves with the ms it took, throws after timeoutMs (with `detail()` when given). */
export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string, detail?: () => Promise<string>): Promise<number> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms${detail ? `\n${await detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return Date.now() - start;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The outbox's writes in hand finished (`secondary.drain()`), failing with what `left` says once `timeoutMs` pass: a
 * stuck outbox then fails where it sticks, not at the test's own timeout with nothing said (clean-clone run 275).
 */
export async function drainWithin(secondary: { drain(): Promise<void> }, timeoutMs: number, left?: () => Promise<string>): Promise<void> {
  const drained = secondary.drain().then(() => true);
  await waitUntil(() => Promise.race([drained, sleep(1_000).then(() => false)]), timeoutMs, "the outbox's writes in hand finished", left);
}

/** Simulators, session-memory dual-write flags and `count` proxies on one fresh store, for one test file. */
export function useDualWriteStack(count = 1, extra: Record<string, unknown> = {}): Replicas {
  return useReplicas({ [flagName('session-memory', 'dual-write')]: { enabled: true } }, count, extra);
}

/** One request to a front, its reply as JSON: an agent's call. */
export const sendJson = async (front: string, request: unknown) =>
  JSON.parse((await requestOnce(front, request, 15_000)).toString('utf8')) as Record<string, unknown>;

/** A session-memory agent's add_interaction through `front`. */
export const addInteraction = (front: string, sid: string, content: string) =>
  sendJson(front, { action: 'add_interaction', session_id: sid, role: 'user', content });
