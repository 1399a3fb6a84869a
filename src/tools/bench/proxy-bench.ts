/**
 * The passthrough bench: the same REQ load against the session-memory simulator directly, through a bare
 * zeromq.js forwarder (the floor for any zeromq.js proxy), a correlating one (the floor for any that can time a hung
 * backend out, for CPU only), through memshift at the off stage and through one
 * shadowing every read and dual-writing (beside a forwarder that sends every request to a second backend too, its
 * floor, for CPU only); first with every process sharing the machine's CPUs, then with the
 * proxies on a core of their own as a sidecar would run. Throughput, latency, and each proxy's CPU per request.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../../util/ports.js';
import { writeFlagsFile } from '../../flags/edit.js';
import { flagName } from '../../flags/names.js';
import { cpuSeconds } from './cpu-time.js';
import { pyDumps } from '../../util/pyjson.js';
import { pooled, runLoad, sendInTurn, type LoadResult } from './load.js';
import { latencyRow, LATENCY_COLUMNS, ms, signedMs, table } from './table.js';
import { pin, usableCpus } from './placement.js';
import { HEALTH_CHECK, startChild, startScript, startSim, waitForZmq, type Child } from './processes.js';
import { scratchDir } from '../../util/scratch.js';

export interface ProxyBenchOptions {
  clients: number;
  /** Length of one measured round. */
  seconds: number;
  /** Saturation rounds per path (alternated). */
  rounds: number;
  /** Steady mode: requests/s, all paths together. */
  rate: number;
  /** Length of the steady run: a p99 rests on its slowest 1%, so it wants more samples than a rate. */
  steadySeconds: number;
}

/**
 * A path the load is sent through; `pid`: the proxy process whose CPU it costs (none for direct); `cpuOnly`: measured
 * at saturation, left out of the steady run (whose paths share its rate).
 */
type Path = { name: string; endpoint: string; pid?: number; cpuOnly?: boolean };

const FORWARDER = 'bare forwarder';
const CORRELATING = 'forwarder matching replies to calls, with a timer each';
const COPYING = 'forwarder, a copy of each request to a second backend';
const SHADOWING = 'memshift, shadow + dual-write';

export async function benchProxy(o: ProxyBenchOptions): Promise<string> {
  const [simPort, forwarderPort, correlatingPort, copyingPort, frontPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const legacy = `tcp://127.0.0.1:${simPort}`;
  const [orchestratorPort, shadowPort, shadowHttp] = [await freePort(), await freePort(), await freePort()];
  const children: Record<'sim' | 'forwarder' | 'correlating' | 'copying' | 'memshift' | 'shadowing', Child | undefined> = {
    sim: undefined,
    forwarder: undefined,
    correlating: undefined,
    copying: undefined,
    memshift: undefined,
    shadowing: undefined,
  };
  const cpus = await usableCpus();
  const dir = await scratchDir('memshift-bench-proxy');
  try {
    children.sim = startSim({ 'session-memory': simPort, orchestrator: orchestratorPort });
    await waitForZmq(legacy, HEALTH_CHECK);
    children.forwarder = startScript(new URL('./forwarder.ts', import.meta.url), [`tcp://127.0.0.1:${forwarderPort}`, legacy]);
    children.correlating = startScript(new URL('./correlating-forwarder.ts', import.meta.url), [`tcp://127.0.0.1:${correlatingPort}`, legacy]);
    const orchestrator = `tcp://127.0.0.1:${orchestratorPort}`;
    children.copying = startScript(new URL('./forwarder.ts', import.meta.url), [`tcp://127.0.0.1:${copyingPort}`, legacy, orchestrator]);
    children.memshift = startChild([
      'serve',
      '--set',
      `services.session-memory.legacy.endpoint=${legacy}`,
      '--set',
      `services.session-memory.front=tcp://127.0.0.1:${frontPort}`,
      '--set',
      'services.contextual-memory.enabled=false',
      '--set',
      'services.jarvis-memory.enabled=false',
      '--set',
      'http.port=0',
    ]);
    // The same proxy with every read shadowed to the orchestrator and every write made there too (durable outbox),
    // its guard off: a saturated machine's latency would roll it back to the off stage mid-run, unseen.
    const flagsFile = join(dir, 'flags.json');
    await writeFlagsFile(flagsFile, {
      [flagName('session-memory', 'dual-write')]: { enabled: true },
      [flagName('session-memory', 'shadow-read')]: { enabled: true, rollout: 100 },
    });
    children.shadowing = startChild([
      'serve',
      ...['--set', `services.session-memory.legacy.endpoint=${legacy}`, '--set', `services.session-memory.front=tcp://127.0.0.1:${shadowPort}`],
      ...['--set', 'services.contextual-memory.enabled=false', '--set', 'services.jarvis-memory.enabled=false'],
      ...['--set', `orchestrator.endpoint=${orchestrator}`, '--set', 'http.host=127.0.0.1', '--set', `http.port=${shadowHttp}`],
      ...['--set', `flags.file=${flagsFile}`, '--set', `store.dataDir=${join(dir, 'pg')}`, '--set', 'guard.enabled=false'],
    ]);
    const paths: Path[] = [
      { name: 'direct', endpoint: legacy },
      { name: FORWARDER, endpoint: `tcp://127.0.0.1:${forwarderPort}`, pid: children.forwarder.proc.pid! },
      { name: 'memshift', endpoint: `tcp://127.0.0.1:${frontPort}`, pid: children.memshift.proc.pid! },
      { name: CORRELATING, endpoint: `tcp://127.0.0.1:${correlatingPort}`, pid: children.correlating.proc.pid!, cpuOnly: true },
      { name: COPYING, endpoint: `tcp://127.0.0.1:${copyingPort}`, pid: children.copying.proc.pid!, cpuOnly: true },
      { name: SHADOWING, endpoint: `tcp://127.0.0.1:${shadowPort}`, pid: children.shadowing.proc.pid! },
    ];
    for (const p of paths) await waitForZmq(p.endpoint, HEALTH_CHECK, 60_000);
    for (const p of paths) await load([p], `warm-${p.name}`, o, 1000);

    const out = [
      `memshift bench: ${o.clients} REQ clients (80% get_context, 20% add_interaction), session-memory simulator, off stage (passthrough)`,
      `the bare forwarder is a zeromq.js ROUTER->DEALER with no logic: the floor for any zeromq.js proxy on this machine`,
      '',
      await measure(`shared CPUs (${cpus.length || 'all'}): load generator, simulator and proxies on any core`, 'shared', paths, o),
    ];
    if (cpus.length >= 2) {
      const [loadCpu, proxyCpu] = [[cpus[0]!], [cpus[1]!]];
      await pin(process.pid, loadCpu);
      await pin(children.sim.proc.pid!, loadCpu);
      for (const proxy of [children.forwarder, children.correlating, children.copying, children.memshift, children.shadowing])
        await pin(proxy.proc.pid!, proxyCpu);
      try {
        out.push(await measure(`dedicated core: proxies on CPU ${proxyCpu}, load generator and simulator on CPU ${loadCpu}`, 'dedicated', paths, o));
      } finally {
        await pin(process.pid, cpus);
      }
    } else {
      out.push('dedicated core: skipped (needs taskset and two CPUs)\n');
    }
    out.push(await compared(`http://127.0.0.1:${shadowHttp}`));
    return out.join('\n');
  } finally {
    await Promise.all(Object.values(children).map((c) => c?.stop()));
    await rm(dir, { recursive: true, force: true });
  }
}

/** `placement` names the sessions of its loads: each placement's are new to both sides. */
async function measure(title: string, placement: string, paths: Path[], o: ProxyBenchOptions): Promise<string> {
  const rounds: LoadResult[][] = paths.map(() => []);
  const cpu = paths.map(() => 0);
  for (let r = 0; r < o.rounds; r++) {
    for (const [i, p] of paths.entries()) {
      const before = p.pid ? cpuSeconds(p.pid) : 0;
      rounds[i]!.push((await load([p], `${placement}-sat-${r}-${i}`, o, o.seconds * 1000))[0]!);
      cpu[i]! += p.pid ? cpuSeconds(p.pid) - before : 0;
    }
  }
  const saturation = rounds.map(merge);
  // CPU seconds per 1,000 requests, from each proxy process's own counters over its saturation rounds.
  const perThousand = saturation.map((r, i) => (cpu[i]! * 1000) / Math.max(1, r.requests));
  const cost = (name: string) => perThousand[paths.findIndex((p) => p.name === name)]!;
  const floor = cost(FORWARDER);
  // Interleaved: each path's latencies come from the same moments, so noise does not favour one.
  const steadyPaths = paths.filter((p) => !p.cpuOnly);
  const steady = await load(steadyPaths, `${placement}-steady`, o, o.steadySeconds * 1000, (o.clients * 1000) / o.rate);
  const [direct, memshift] = [saturation[0]!, saturation[paths.findIndex((p) => p.name === 'memshift')]!];
  const [sDirect, sMemshift] = [steady[0]!, steady[steadyPaths.findIndex((p) => p.name === 'memshift')]!];
  return [
    title,
    '',
    `saturation (closed loop, ${o.rounds} x ${o.seconds} s per path, alternated)`,
    table(
      ['path', 'requests', 'errors', 'req/s', 'p50 ms', 'p99 ms', 'vs direct'],
      saturation.map((r, i) => [paths[i]!.name, String(r.requests), String(r.errors), r.rps.toFixed(0), ms(r.p50), ms(r.p99), (r.rps / direct.rps).toFixed(2)]),
    ),
    `CPU per request (each proxy process's user + system time over its saturation rounds; the database's and the simulators' not included)`,
    table(
      ['path', 'CPU s per 1,000 requests', 'vs bare forwarder'],
      paths.flatMap((p, i) => (p.pid ? [[p.name, perThousand[i]!.toFixed(3), `${(perThousand[i]! / floor).toFixed(2)}x`]] : [])),
    ),
    `targets: memshift (off) within 1.1x the forwarder's CPU per request, shadow + dual-write within 2x`,
    `memshift (off) over the correlating forwarder (the floor for a proxy that times a hung backend out): ${(cost('memshift') / cost(CORRELATING)).toFixed(2)}x`,
    `shadow + dual-write over the copying forwarder (its zeromq.js floor): ${(cost(SHADOWING) / cost(COPYING)).toFixed(2)}x`,
    '',
    `steady (${o.rate} req/s in all, the paths interleaved, over ${o.steadySeconds} s)`,
    table(
      ['path', ...LATENCY_COLUMNS],
      steady.map((r, i) => latencyRow(steadyPaths[i]!.name, r, sDirect)),
    ),
    `memshift: throughput ${(memshift.rps / direct.rps).toFixed(2)} of direct (target >= 0.5), added p99 ${signedMs(sMemshift.p99 - sDirect.p99)} ms (target <= 1 ms)`,
    '',
  ].join('\n');
}

/**
 * Each path has its own sessions, created first through that path, as an agent creates its session before writing
 * to it: a session written through several paths would reach the orchestrator only by the dual-writing one, and
 * every shadowed read of it would differ (the steady load measured a mismatch on every read that way).
 */
async function load(paths: Path[], tag: string, o: ProxyBenchOptions, durationMs: number, intervalMs?: number): Promise<LoadResult[]> {
  const session = (e: number, c: number) => `${tag}-${e}-${c}`;
  for (const [e, p] of paths.entries())
    await sendInTurn(
      p.endpoint,
      Array.from({ length: o.clients }, (_, c) => pyDumps({ action: 'create_session', session_id: session(e, c) })),
    );
  return runLoad({
    endpoints: paths.map((p) => p.endpoint),
    clients: o.clients,
    durationMs,
    ...(intervalMs ? { intervalMs } : {}),
    request: (c, n, e) =>
      n % 5 === 4
        ? pyDumps({ action: 'add_interaction', session_id: session(e, c), role: 'user', content: `message ${n} from client ${c}` })
        : pyDumps({ action: 'get_context', session_id: session(e, c), max_tokens: 200 }),
    check: (reply) => reply.includes('"status": "success"'),
  });
}

/** The shadowing memshift's comparisons over the whole run, by outcome: each path's own sessions differ nowhere. */
async function compared(httpUrl: string): Promise<string> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const by = new Map<string, number>();
  for (const [, labels, n] of text.matchAll(/^memshift_comparisons_total\{([^}]*)\} (\S+)$/gm)) {
    const outcome = /outcome="([^"]*)"/.exec(labels!)?.[1] ?? '(none)';
    by.set(outcome, (by.get(outcome) ?? 0) + Number(n));
  }
  const counts = [...by].map(([outcome, n]) => `${outcome} ${n}`).join(', ');
  return `${SHADOWING}, reads compared over the whole run: ${counts || 'none'}\n`;
}

/** Rounds are summed for throughput; latency percentiles are the worst round's, to stay conservative. */
function merge(rs: LoadResult[]): LoadResult {
  return { ...pooled(rs), p50: Math.max(...rs.map((r) => r.p50)), p99: Math.max(...rs.map((r) => r.p99)) };
}
