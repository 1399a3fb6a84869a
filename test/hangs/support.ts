/**
 * For the hang and crash acceptance tests: memshift as a child process (so it can be killed with SIGKILL and
 * restarted on the same store), and the check of both sides' records per key after agents' load (load.ts).
 */
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { HEALTH_CHECK, startChild, waitForZmq, type Child } from '../../src/tools/bench/processes.js';
import type { SimHandle, SimOptions, SimTarget } from '../../src/tools/sim/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { Relay } from '../support/relay.js';
import { startSims } from '../support/stack.js';
import { servingEndpoints } from '../support/serving.js';
import { stopOrKill } from '../support/stop-child.js';
import { openRows as outboxRows, sleep, waitUntil } from '../outbox/support.js';
import { legacyRecords, newRecords, type WrittenService } from './records.js';
import { Load, type Agent } from './load.js';

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

const stageFlags = (stage: 'dual-write' | 'new-primary', services: readonly WrittenService[]): string[] =>
  services.flatMap((s) => [`memshift.${s}.dual-write`, ...(stage === 'new-primary' ? [`memshift.${s}.new-primary`] : [])]);

/**
 * For one test file: simulators in this process (so a test can hang them), flags for `stage`, and a memshift
 * child on a fresh PostgreSQL database (or, with `embedded`, on its own embedded PostgreSQL in a temp dir; with
 * `relayed`, through a relay that can be cut).
 */
export function useChildStack(o: {
  stage: 'dual-write' | 'new-primary';
  replicas?: number;
  embedded?: boolean;
  relayed?: boolean;
  /** Simulator options, given the store's URL and the temp dir. */
  sims?: (at: { url: string; dir: string }) => SimOptions;
  extra?: string[];
  /** Backends served elsewhere (a simulator process of a test's own), in place of this process's simulators. */
  endpoints?: () => Partial<Record<SimTarget, string>>;
  /** The services memshift fronts (WRITTEN unless given); the others are disabled. */
  services?: readonly WrittenService[];
}) {
  let sims: SimHandle | undefined;
  let flags: Awaited<ReturnType<typeof flagsWith>> | undefined;
  let dir = '';
  let url = '';
  let relay: Relay | undefined;
  const children: MemshiftChild[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'memshift-hangs-'));
    if (!o.embedded) url = await freshDatabaseUrl();
    const relayed = o.relayed ? await Relay.before(url) : undefined;
    relay = relayed?.relay;
    sims = await startSims(o.sims?.({ url, dir }) ?? {});
    const services = o.services ?? WRITTEN;
    flags = await flagsWith(stageFlags(o.stage, services));
    const store = o.embedded ? [`store.dataDir=${join(dir, 'pg')}`] : [`store.url=${relayed?.url ?? url}`];
    for (let i = 0; i < (o.replicas ?? 1); i++) {
      // Each replica's held writes in a file of its own, as the Kubernetes manifests give each pod one (on its emptyDir).
      const extra = [`outbox.heldFile=${join(dir, `held-writes-${i}.jsonl`)}`, ...(o.extra ?? [])];
      children.push(await MemshiftChild.start({ ...sims.endpoints, ...o.endpoints?.() }, { store, services, flagsFile: flags.file, extra }));
    }
  }, 120_000);
  afterAll(async () => {
    await Promise.all(children.map((c) => c.stop()));
    await relay?.close();
    await flags?.dispose();
    await sims?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  /**
   * `memshift reconcile --service S` (with `args`, e.g. --repair) as a child over the simulators' persisted stores
   * (the stack's `sims` given `storage` with the temp dir and the store's URL).
   */
  function reconcile(service: WrittenService, args: string[] = []): Promise<{ code: number | null; output: string }> {
    const sets = [
      `store.url=${url}`,
      `orchestrator.endpoint=${sims!.endpoints.orchestrator}`,
      `services.${service}.legacy.endpoint=${sims!.endpoints[service]}`,
      `reconcile.legacyDataDir=${dir}`,
      `reconcile.orchestratorDatabaseUrl=${url}`,
      'reconcile.recheckDelayMs=200',
      // Each side stamps a live write with its own clock: legacy when it applies it, the orchestrator's copy when
      // memshift saw the acknowledgement. Restarts under load on two cores stretch that round trip past a second;
      // what these tests hold to is the writes themselves, so times may differ by a few seconds here.
      'reconcile.timeToleranceS=10',
    ];
    const child = startChild(['reconcile', '--service', service, ...args, ...sets.flatMap((s) => ['--set', s])]);
    return new Promise((resolve) => child.proc.once('exit', (code) => resolve({ code, output: child.output() })));
  }
  return { sims: () => sims!, memshift: (i = 0) => children[i]!, url: () => url, dir: () => dir, relay: () => relay!, reconcile };
}

/** A memshift child in front of `sims` for the written services, restartable on its fronts and store. */
class MemshiftChild {
  child: Child | undefined;

  /** Until the first start: ports of the system's choosing, bound again by every restart (agents keep their endpoint). */
  readonly fronts: Partial<Record<WrittenService, string>>;

  /** Its HTTP front (metrics, health), bound again by every restart. */
  http = '';

  private constructor(
    private readonly args: string[],
    private readonly services: readonly WrittenService[],
  ) {
    this.fronts = Object.fromEntries(services.map((s) => [s, 'tcp://127.0.0.1:*']));
  }

  static async start(
    endpoints: Record<SimTarget, string>,
    o: { store: string[]; services: readonly WrittenService[]; flagsFile: string; extra?: string[] },
  ): Promise<MemshiftChild> {
    const set = (kv: string) => ['--set', kv];
    const all: WrittenService[] = ['session-memory', 'jarvis-memory', 'contextual-memory'];
    const args = [
      'serve',
      ...o.services.flatMap((s) => set(`services.${s}.legacy.endpoint=${endpoints[s]}`)),
      ...all.filter((s) => !o.services.includes(s)).flatMap((s) => set(`services.${s}.enabled=false`)),
      ...set(`orchestrator.endpoint=${endpoints.orchestrator}`),
      ...set('http.host=127.0.0.1'),
      ...set('http.port=0'),
      ...set(`flags.file=${o.flagsFile}`),
      ...o.store.flatMap(set),
      // A killed owner's claims are taken over after this; the guard would rightly call a hang a latency breach.
      ...set('outbox.leaseMs=3000'),
      // Published often: a replica started or restarted binds its fronts once the others have read it.
      ...set('outbox.fleetEveryMs=500'),
      ...set('guard.enabled=false'),
      ...(o.extra ?? []).flatMap(set),
    ];
    const m = new MemshiftChild(args, o.services);
    await m.restart();
    return m;
  }

  async restart(): Promise<void> {
    const c = startChild([...this.args, ...this.services.flatMap((s) => ['--set', `services.${s}.front=${this.fronts[s]}`])]);
    try {
      const bound = await servingEndpoints(c);
      for (const s of this.services) this.fronts[s] = bound[s]!;
      this.http = bound.http!;
      for (const s of this.services) await waitForZmq(this.fronts[s]!, HEALTH_CHECK, 60_000);
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
    return this.child ? stopOrKill(this.child) : Promise.resolve();
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

/** Writes not yet landed (pending or in flight). */
export const openRows = async (url: string): Promise<number> => (await outboxRows(url)).open;

/** A ContextualMemoryAgent add_interaction, numbered `n` in `session`. */
export const interaction = (session: string, n: number) => ({
  action: 'add_interaction',
  session_id: session,
  type: 'user_query',
  content: `${session} #${n}`,
});

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
