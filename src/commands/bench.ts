/**
 * `memshift bench`: the passthrough against direct access and a bare forwarder, the write path with
 * durability, each operation legacy vs new by history size, the shadow comparison, and the reconciler at scale; each part measures its baseline in the same run.
 */
import { defineCommand } from './define.js';
import { benchProxy } from '../tools/bench/proxy-bench.js';
import { benchReconcileApart, type ReconcileBenchResult } from '../tools/bench/reconcile.js';
import { benchWritePath } from '../tools/bench/write-path.js';
import { benchStartup } from '../tools/bench/startup.js';
import { benchOps } from '../tools/bench/ops.js';
import { benchCompare } from '../tools/bench/compare.js';
import { cpuWakeNote, keepCpusAwake } from '../tools/bench/cpu-wake.js';
import { stopChildrenOnSignals } from '../tools/bench/processes.js';

export const command = defineCommand(
  `Usage: memshift bench [--clients N] [--seconds S] [--rounds R] [--rate N] [--steady S] [--only proxy|writes|ops|compare|reconcile|startup] [--let-cpus-idle]

Runs the session-memory simulator, a memshift proxy and a bare zeromq.js forwarder (the floor for any
zeromq.js proxy) as separate processes and drives them with the same REQ load (80% get_context, 20%
add_interaction), first with all processes sharing the CPUs, then (with taskset and two CPUs) with the
proxies on a core of their own:
  saturation: closed loop, every client sends as soon as it has its reply -> throughput vs direct;
  steady:     paced at --rate requests/s in all, the paths interleaved -> the latency added.
  --clients N   concurrent REQ clients (default 50)
  --seconds S   length of one measured round (default 5)
  --rounds R    saturation rounds per path, alternated (default 2)
  --rate N      requests/s of the steady mode, all paths together (default 1000)
  --steady S    length of the steady run (default 30: ~100 samples a path in its slowest 1%)
Then the write path in dual-write (create_session, add_interaction): direct, through a proxy whose secondary
writes are in memory only, and through one with the durable outbox -> what durability adds per write.
  --write-rate N  writes/s of that scenario, all clients together (default 200)
Then per operation: every read and append action of the three services at history sizes 10, 1,000, 10,000,
served by legacy and from the orchestrator (memshift at new-primary, reads from new).
  --ops-sizes A,B,C  history sizes (default 10,1000,10000)
Then the shadow comparison's cost per reply pair (get_context replies of 100, 1,000 and 10,000 interactions)
against JSON.parse and util.isDeepStrictEqual of the same bytes.
Then the reconciler: N session-memory records a side (SQLite vs PostgreSQL, 25 differences planted), then
N jarvis-memory users (its JSON file, streamed), one full run's time and peak memory each (target: 1M a side in
<= 30 s within 256 MB, and no more memory at 5M than at 1M).
  --reconcile N[,N...] records a side, one run per size (default 1000000; 0 skips it); peak memory compared to the first size's
Then start-up to ready: a bare forwarder process, memshift on a running PostgreSQL, memshift with a fresh
embedded one (median of --startup-runs, default 3; 0 skips it).
  --only proxy|writes|ops|compare|reconcile|startup   run one of them
  --let-cpus-idle   let idle CPUs halt while measuring; by default (as root) the bench holds
                    /dev/cpu_dma_latency at 0 as cyclictest does: waking a halted vCPU can take ms`,
  {
    clients: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    rate: { type: 'string', default: '1000' },
    steady: { type: 'string', default: '30' },
    reconcile: { type: 'string', default: '1000000' },
    only: { type: 'string' },
    'let-cpus-idle': { type: 'boolean', default: false },
    'write-rate': { type: 'string', default: '200' },
    'startup-runs': { type: 'string', default: '3' },
    'ops-sizes': { type: 'string', default: '10,1000,10000' },
  },
  async ({ values }) => {
    stopChildrenOnSignals();
    const release = values['let-cpus-idle'] ? undefined : keepCpusAwake();
    process.stdout.write(`${cpuWakeNote(release !== undefined, values['let-cpus-idle'])}\n\n`);
    try {
      const only = values.only;
      const databaseUrl = process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : {};
      if (only === undefined || only === 'proxy') {
        process.stdout.write(
          await benchProxy({
            clients: Number(values.clients),
            seconds: Number(values.seconds),
            rounds: Number(values.rounds),
            rate: Number(values.rate),
            steadySeconds: Number(values.steady),
          }),
        );
      }
      if (only === undefined || only === 'writes') {
        process.stdout.write(
          await benchWritePath({
            clients: Number(values.clients),
            durationMs: Number(values.seconds) * Number(values.rounds) * 1000,
            rate: Number(values['write-rate']),
            ...databaseUrl,
          }),
        );
      }
      if (only === undefined || only === 'ops') {
        const sizes = values['ops-sizes'].split(',').map(Number);
        process.stdout.write(await benchOps({ sizes, durationMs: Number(values.seconds) * 400, ...databaseUrl }));
      }
      if (only === undefined || only === 'compare')
        process.stdout.write(benchCompare({ sizes: [100, 1_000, 10_000], durationMs: Number(values.seconds) * 400 }));
      const startupRuns = Number(values['startup-runs']);
      if ((only === undefined || only === 'startup') && startupRuns > 0) process.stdout.write(await benchStartup({ runs: startupRuns, ...databaseUrl }));
      const reconcileSizes = values.reconcile
        .split(',')
        .map(Number)
        .filter((n) => n > 0);
      if ((only === undefined || only === 'reconcile') && reconcileSizes.length) return await reconcileReport(reconcileSizes, databaseUrl);
    } finally {
      release?.();
    }
  },
);

async function reconcileReport(sizes: number[], databaseUrl: { databaseUrl?: string }): Promise<number> {
  let failed = 0;
  let baseline: ReconcileBenchResult | undefined;
  const retainedMb = (r: ReconcileBenchResult) => r.retained.heapMb + r.retained.externalMb;
  // Every size of session-memory (its SQLite file), then jarvis-memory's JSON file at the first size, then that again
  // with the orchestrator's tables as a backfill leaves them (no statistics yet), as its closing reconciliation meets them.
  const runs = [
    ...sizes.map((records) => ({ service: 'session-memory' as const, records })),
    { service: 'jarvis-memory' as const, records: sizes[0]! },
    { service: 'jarvis-memory' as const, records: sizes[0]!, analyzed: false },
  ];
  for (const run of runs) {
    const { service } = run;
    const r = await benchReconcileApart({ ...run, ...databaseUrl });
    const base = (baseline ??= r);
    // Sizes of one store compared with its first: memory must not grow with the size.
    const vs = (x: number, of: number, target = '') =>
      sizes.length > 1 && service === 'session-memory' ? ` (${(x / of).toFixed(2)}x the ${sizes[0]!.toLocaleString('en')}-record run's${target})` : '';
    process.stdout.write(
      `memshift bench: reconcile ${r.service}, ${r.records.toLocaleString('en')} records a side, ${r.planted} differences planted${r.analyzed ? '' : ", the orchestrator's tables without statistics (as a backfill leaves them)"}\n` +
        `  found ${r.found} in ${r.seconds.toFixed(1)} s (target <= 30 s for 1M), peak memory ${Math.round(r.peakRssMb)} MB (the reconciling process; target <= 256 MB)${vs(r.peakRssMb, base.peakRssMb, '; target <= 1.00x')}\n` +
        `  at the peak: V8 heap in use ${Math.round(r.atPeak.heapMb)} MB (its young generation ${Math.round(r.atPeak.youngMb)} MB), outside V8's heap ${Math.round(r.atPeak.outsideMb)} MB (of it held by JavaScript objects: buffers, WebAssembly memory ${Math.round(r.atPeak.externalMb)} MB)\n` +
        `  retained at the end, after a full GC, both stores open: ${Math.round(retainedMb(r))} MB (V8 heap ${Math.round(r.retained.heapMb)} MB, buffers and WebAssembly memory ${Math.round(r.retained.externalMb)} MB)${vs(retainedMb(r), retainedMb(base))}\n` +
        `  ranges checksummed ${r.rangesChecked}, records fetched ${r.recordsFetched}; data set generated in ${r.setupSeconds.toFixed(1)} s\n`,
    );
    if (r.found !== r.planted) failed++;
  }
  return failed ? 1 : 0;
}
