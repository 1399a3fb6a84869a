/**
 * The per-operation bench (the seeds' V1/V2 table): every read and append action of the three services at
 * history sizes 10, 1,000 and 10,000, served by legacy (straight to its simulator) and served from the
 * orchestrator (through memshift at new-primary, reads from new; the orchestrator simulator kept in PostgreSQL
 * in its own schema), and by legacy through a second memshift at the off stage (the hop every stage has, so the
 * new side's own cost shows apart from it); one client takes every size on every path in turn, request by request.
 * Each read is also sent straight to the orchestrator simulator as one batch_read of the memories its reply holds:
 * what the new side alone costs for that reply, the floor for any proxy that serves it from there.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runLoad, sendInTurn, type LoadResult } from './load.js';
import { directReads } from './ops-direct.js';
import { createDatabase } from './databases.js';
import { ms, table } from './table.js';
import { freePort } from '../../util/ports.js';
import { HEALTH_CHECK, startChild, startSim, waitForZmq, type Child } from './processes.js';
import { writeFlagsFile, type Edits } from '../../flags/edit.js';
import { flagName } from '../../flags/names.js';
import { SIM_SERVICES as SERVICE_NAMES, type SimService as ServiceName } from '../sim/services.js';
import { pyDumps } from '../../util/pyjson.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../store/embedded.js';
import { scratchDir } from '../../util/scratch.js';

export interface OpsBenchOptions {
  sizes: number[];
  /** Measured time per action and size (both paths together). */
  durationMs: number;
  /** PostgreSQL for memshift's state and the orchestrator simulator's tables; an embedded one in a temp dir when absent. */
  databaseUrl?: string;
}

type Request = Record<string, unknown>;

interface Service {
  /** The key a history of `size` is written under. */
  key(size: number): string;
  /** The n-th write of that history. */
  write(key: string, n: number): Request;
  actions: { name: string; kind: 'read' | 'write'; request(key: string, n: number): Request }[];
}

const SERVICES: Record<ServiceName, Service> = {
  'session-memory': {
    key: (size) => `ops-session-${size}`,
    write: (key, n) => ({
      action: 'add_interaction',
      session_id: key,
      role: n % 2 ? 'assistant' : 'user',
      content: `turn ${n}: ${'words '.repeat(8 + (n % 20))}`,
    }),
    actions: [
      { name: 'get_context', kind: 'read', request: (key) => ({ action: 'get_context', session_id: key }) },
      { name: 'add_interaction', kind: 'write', request: (key, n) => ({ action: 'add_interaction', session_id: key, role: 'user', content: `more ${n}` }) },
    ],
  },
  'contextual-memory': {
    key: (size) => `ops_context_${size}`,
    write: (key, n) => ({ action: 'add_interaction', session_id: key, type: n % 3 ? 'user_query' : 'code', content: `item ${n} uses the database over http` }),
    actions: [
      { name: 'get_context', kind: 'read', request: (key) => ({ action: 'get_context', session_id: key }) },
      {
        name: 'add_interaction',
        kind: 'write',
        request: (key, n) => ({ action: 'add_interaction', session_id: key, type: 'user_query', content: `more ${n}` }),
      },
      { name: 'record_decision', kind: 'write', request: (key, n) => ({ action: 'record_decision', session_id: key, decision: `decision ${n}` }) },
    ],
  },
  'jarvis-memory': {
    key: (size) => `ops-user-${size}`,
    write: (key, n) => ({ action: 'add_memory', user_id: key, memory: { type: n % 10 ? 'note' : 'reminder', text: `memory ${n}` } }),
    actions: [
      { name: 'get_memories', kind: 'read', request: (key) => ({ action: 'get_memories', user_id: key }) },
      { name: 'add_memory', kind: 'write', request: (key, n) => ({ action: 'add_memory', user_id: key, memory: { type: 'note', text: `more ${n}` } }) },
    ],
  },
};

interface Row {
  service: ServiceName;
  action: string;
  size: number;
  legacy: LoadResult;
  /** Legacy through memshift at the off stage. */
  proxied: LoadResult;
  fresh: LoadResult;
  /** Reads only: the orchestrator simulator asked straight for the reply's memories. */
  orchestrator?: LoadResult;
}

export async function benchOps(o: OpsBenchOptions): Promise<string> {
  const dir = await scratchDir('memshift-bench-ops');
  const flagsFile = join(dir, 'flags.json');
  const children: Child[] = [];
  let own: EmbeddedPostgresHandle | undefined;
  try {
    await writeFlagsFile(flagsFile, stageEdits('dual-write'));
    own = o.databaseUrl ? undefined : await startEmbeddedPostgres({ dataDir: join(dir, 'pg') });
    const stateUrl = o.databaseUrl ?? own!.url;
    const ports = Object.fromEntries(await Promise.all([...SERVICE_NAMES, 'orchestrator' as const].map(async (s) => [s, await freePort()]))) as Record<
      ServiceName | 'orchestrator',
      number
    >;
    children.push(startSim(ports, ['--orchestrator-db', await createDatabase(stateUrl, 'memshift_ops_orchestrator')]));
    /** A memshift in front of every service, steered by `flags`; its fronts and its HTTP port. */
    const serve = async (flags: string, database: string) => {
      const http = await freePort();
      const fronts = Object.fromEntries(await Promise.all(SERVICE_NAMES.map(async (s) => [s, `tcp://127.0.0.1:${await freePort()}`]))) as Record<
        ServiceName,
        string
      >;
      children.push(
        startChild([
          'serve',
          ...SERVICE_NAMES.flatMap((s) => ['--set', `services.${s}.legacy.endpoint=tcp://127.0.0.1:${ports[s]}`, '--set', `services.${s}.front=${fronts[s]}`]),
          ...['--set', `orchestrator.endpoint=tcp://127.0.0.1:${ports.orchestrator}`, '--set', 'http.host=127.0.0.1', '--set', `http.port=${http}`],
          ...['--set', `flags.file=${flags}`, '--set', `store.url=${database}`],
        ]),
      );
      for (const s of SERVICE_NAMES) await waitForZmq(fronts[s], HEALTH_CHECK, 60_000);
      return { fronts, http };
    };
    const state = await createDatabase(stateUrl, 'memshift_ops_state');
    const { fronts, http } = await serve(flagsFile, state);
    const offFlags = join(dir, 'off.json');
    await writeFlagsFile(offFlags, {});
    const { fronts: offFronts } = await serve(offFlags, await createDatabase(stateUrl, 'memshift_ops_off'));

    // Histories written through memshift in dual-write, so both sides hold them; then every write is applied.
    await Promise.all(SERVICE_NAMES.flatMap((s) => o.sizes.map((size) => populate(fronts[s], SERVICES[s], size))));
    await untilOutboxEmpty(`http://127.0.0.1:${http}`);
    await writeFlagsFile(flagsFile, stageEdits('new-primary'));
    await new Promise((r) => setTimeout(r, 3_000));

    const rows: Row[] = [];
    for (const s of SERVICE_NAMES) {
      for (const a of SERVICES[s].actions) {
        const legacy = `tcp://127.0.0.1:${ports[s]}`;
        const direct =
          a.kind === 'read'
            ? await directReads({
                service: s,
                keys: o.sizes.map((size) => SERVICES[s].key(size)),
                read: (key) => pyDumps(a.request(key, 0)),
                legacy,
                orchestrator: `tcp://127.0.0.1:${ports.orchestrator}`,
                state,
              })
            : undefined;
        const paths = direct ? 4 : 3;
        // Every size on every path in one run, request by request in turn (one client: the n-th request goes to
        // endpoint e = n mod k), so a hiccup of the machine or background work lands on all of them alike.
        const endpoints = o.sizes.flatMap(() => [legacy, offFronts[s], fronts[s], ...(direct ? [`tcp://127.0.0.1:${ports.orchestrator}`] : [])]);
        const results = await runLoad({
          endpoints,
          clients: 1,
          durationMs: o.durationMs * o.sizes.length,
          request: (_c, n, e) => {
            const [size, path] = [Math.floor(e / paths), e % paths];
            return path === 3 ? direct![size]! : pyDumps(a.request(SERVICES[s].key(o.sizes[size]!), n));
          },
        });
        o.sizes.forEach((size, i) =>
          rows.push({
            service: s,
            action: a.name,
            size,
            legacy: results[paths * i]!,
            proxied: results[paths * i + 1]!,
            fresh: results[paths * i + 2]!,
            ...(direct ? { orchestrator: results[paths * i + 3]! } : {}),
          }),
        );
      }
    }
    return report(o, rows);
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    await own?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Flags of every service at `stage`: dual-write, or new-primary with every read from new and none shadowed. */
function stageEdits(stage: 'dual-write' | 'new-primary'): Edits {
  const edits: Edits = {};
  for (const s of SERVICE_NAMES) {
    edits[flagName(s, 'dual-write')] = { enabled: true };
    edits[flagName(s, 'shadow-read')] = { enabled: false };
    edits[flagName(s, 'read-new')] = { enabled: stage === 'new-primary', rollout: 100 };
    edits[flagName(s, 'new-primary')] = { enabled: stage === 'new-primary' };
  }
  return edits;
}

/** One writer per history: a REQ client, one write at a time, as an agent does. */
async function populate(front: string, service: Service, size: number): Promise<void> {
  const key = service.key(size);
  const first = service === SERVICES['session-memory'] ? [{ action: 'create_session', session_id: key }] : [];
  await sendInTurn(
    front,
    (function* () {
      for (const r of first) yield pyDumps(r);
      for (let n = 0; n < size; n++) yield pyDumps(service.write(key, n));
    })(),
  );
}

/** Polls memshift's /metrics until no secondary write is left to apply. */
async function untilOutboxEmpty(httpUrl: string, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await (await fetch(`${httpUrl}/metrics`)).text();
    const depth = [...text.matchAll(/^memshift_outbox_depth(?:\{[^}]*\})? (\S+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    if (/^memshift_outbox_depth/m.test(text) && depth === 0) return;
    if (Date.now() > deadline) throw new Error(`outbox not empty after ${timeoutMs} ms (depth ${depth})`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const ratio = (x: number, base: number): string => `${(x / base).toFixed(2)}x`;

function report(o: OpsBenchOptions, rows: Row[]): string {
  const at = (r: Row, size: number) => rows.find((x) => x.service === r.service && x.action === r.action && x.size === size);
  const [mid, top] = [o.sizes.at(-2), o.sizes.at(-1)];
  return [
    `memshift bench: per operation, served by legacy (its simulator, direct) and from the orchestrator (through memshift at new-primary,`,
    `reads from new; the orchestrator simulator kept in PostgreSQL in its schema) and by legacy through memshift at the off stage ("via memshift"),`,
    `history sizes ${o.sizes.join(', ')}; one client, every size and path in turn; for reads, "orchestrator direct" is one batch_read`,
    `straight to the orchestrator simulator of the memories legacy's reply holds: the new side's own cost, a floor for any proxy`,
    table(
      [
        'service',
        'action',
        'history',
        'legacy p50 / p99 ms',
        'new p50 / p99 ms',
        'new / legacy p50',
        'new / legacy p99',
        'via memshift p50 / p99 ms',
        'new / via memshift p50',
        'orchestrator direct p50 / p99 ms',
        'orchestrator direct / legacy p50',
        ...(mid === undefined ? [] : [`new p50 at ${top} / at ${mid}`]),
      ],
      rows.map((r) => {
        const before = mid !== undefined && r.size === top ? at(r, mid) : undefined;
        return [
          r.service,
          r.action,
          String(r.size),
          `${ms(r.legacy.p50)} / ${ms(r.legacy.p99)}`,
          `${ms(r.fresh.p50)} / ${ms(r.fresh.p99)}${r.fresh.errors ? ` (${r.fresh.errors} errors)` : ''}`,
          ratio(r.fresh.p50, r.legacy.p50),
          ratio(r.fresh.p99, r.legacy.p99),
          `${ms(r.proxied.p50)} / ${ms(r.proxied.p99)}`,
          ratio(r.fresh.p50, r.proxied.p50),
          r.orchestrator ? `${ms(r.orchestrator.p50)} / ${ms(r.orchestrator.p99)}` : '',
          r.orchestrator ? ratio(r.orchestrator.p50, r.legacy.p50) : '',
          ...(mid === undefined ? [] : [before ? ratio(r.fresh.p50, before.fresh.p50) : '']),
        ];
      }),
    ),
    'targets: new within 2x legacy at every size; new flat from the middle size to the largest (within 1.5x)',
    '',
  ].join('\n');
}
