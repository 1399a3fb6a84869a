/**
 * `memshift bench`: the same closed-loop load against a legacy simulator directly and through the
 * proxy, in one run, and the ratios between them.
 */
import { defineCommand } from './define.js';
import { runLoad, type LoadResult } from '../bench/load.js';
import { startChild, waitForZmq, type Child } from '../bench/processes.js';
import { freePort } from '../util/ports.js';
import { pyDumps } from '../util/pyjson.js';
import { benchReconcile } from '../jobs/reconcile-bench.js';
import { benchWritePath } from '../jobs/outbox-bench.js';

export const command = defineCommand(
  `Usage: memshift bench [--clients N] [--seconds S] [--rounds R] [--rate N]

Runs the session-memory simulator and a proxy as separate processes and drives both with the same
load of REQ clients (80% get_context, 20% add_interaction), alternating direct and proxied rounds:
  saturation: closed loop, every client sends as soon as it has its reply -> throughput ratio;
  steady:     paced at --rate requests/s in all, below saturation -> the latency the proxy adds.
  --clients N   concurrent REQ clients (default 50)
  --seconds S   length of one measured round (default 5)
  --rounds R    rounds per target and mode, alternated (default 2)
  --rate N      total requests/s of the steady mode (default 1000)
Then the write path in dual-write (create_session, add_interaction): direct, through a proxy whose secondary
writes are in memory only, and through one with the durable outbox -> what durability adds per write.
  --write-rate N  writes/s of that scenario, all clients together (default 200)
Then the reconciler: N session-memory records a side (SQLite vs PostgreSQL, 25 differences planted),
one full run's time and peak memory (target: 1M a side in <= 30 s).
  --reconcile N records a side (default 1000000; 0 skips it)
  --only proxy|writes|reconcile   run one of them`,
  {
    clients: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    rate: { type: 'string', default: '1000' },
    reconcile: { type: 'string', default: '1000000' },
    only: { type: 'string' },
    'write-rate': { type: 'string', default: '200' },
  },
  async ({ values }) => {
    const reconcileRecords = Number(values.reconcile);
    if (values.only === 'reconcile') return reconcileReport(reconcileRecords);
    const writePath = async () =>
      process.stdout.write(
        await benchWritePath({
          clients: Number(values.clients),
          durationMs: Number(values.seconds) * Number(values.rounds) * 1000,
          rate: Number(values['write-rate']),
          ...(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : {}),
        }),
      );
    if (values.only === 'writes') return void (await writePath());
    const intervalMs = (Number(values.clients) * 1000) / Number(values.rate);
    const clients = Number(values.clients);
    const durationMs = Number(values.seconds) * 1000;
    const rounds = Number(values.rounds);
    const [simPort, frontPort] = [await freePort(), await freePort()];
    const legacy = `tcp://127.0.0.1:${simPort}`;
    const front = `tcp://127.0.0.1:${frontPort}`;
    const children: Child[] = [];
    try {
      children.push(startChild(['sim', '--port', `session-memory=${simPort}`, '--port', 'contextual-memory=0', '--port', 'jarvis-memory=0', '--port', 'orchestrator=0', '--control-port', '0']));
      await waitForZmq(legacy, '{"action": "health_check"}');
      children.push(
        startChild([
          'serve',
          '--set', `services.session-memory.legacy.endpoint=${legacy}`,
          '--set', `services.session-memory.front=${front}`,
          '--set', 'services.contextual-memory.enabled=false',
          '--set', 'services.jarvis-memory.enabled=false',
          '--set', 'http.port=0',
        ]),
      );
      await waitForZmq(front, '{"action": "health_check"}');
      const targets = { direct: legacy, proxy: front };
      for (const [name, endpoint] of Object.entries(targets)) await load(endpoint, `warm-${name}`, clients, 1000);
      const measure = async (mode: string, interval?: number) => {
        const results: Record<string, LoadResult[]> = { direct: [], proxy: [] };
        for (let r = 0; r < rounds; r++) {
          for (const [name, endpoint] of Object.entries(targets)) {
            results[name]!.push(await load(endpoint, `${mode}-${name}-${r}`, clients, durationMs, interval));
          }
        }
        return [merge(results.direct!), merge(results.proxy!)] as const;
      };
      const saturation = await measure('saturation');
      const steady = await measure('steady', intervalMs);
      process.stdout.write(
        `memshift bench: ${clients} REQ clients, session-memory simulator, off stage (passthrough)\n\n` +
          table(`saturation (closed loop)`, ...saturation) +
          table(`steady (paced at ${values.rate} req/s in all)`, ...steady),
      );
    } finally {
      await Promise.all(children.map((c) => c.stop()));
    }
    if (values.only !== 'proxy') await writePath();
    if (values.only !== 'proxy' && reconcileRecords > 0) return reconcileReport(reconcileRecords);
  },
);

async function reconcileReport(records: number): Promise<number> {
  const r = await benchReconcile({ records, ...(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : {}) });
  process.stdout.write(
    `memshift bench: reconcile session-memory, ${r.records.toLocaleString('en')} records a side, ${r.planted} differences planted\n` +
      `  found ${r.found} in ${r.seconds.toFixed(1)} s (target <= 30 s for 1M), peak memory ${Math.round(r.peakRssMb)} MB (this process)\n` +
      `  ranges checksummed ${r.rangesChecked}, records fetched ${r.recordsFetched}; data set generated in ${r.setupSeconds.toFixed(1)} s\n`,
  );
  return r.found === r.planted ? 0 : 1;
}

async function load(endpoint: string, tag: string, clients: number, durationMs: number, intervalMs?: number): Promise<LoadResult> {
  return runLoad({
    endpoint,
    clients,
    durationMs,
    ...(intervalMs ? { intervalMs } : {}),
    request: (c, n) =>
      n % 5 === 4
        ? pyDumps({ action: 'add_interaction', session_id: `${tag}-${c}`, role: 'user', content: `message ${n} from client ${c}` })
        : pyDumps({ action: 'get_context', session_id: `${tag}-${c}`, max_tokens: 200 }),
    check: (reply) => reply.includes('"status": "success"') || reply.includes('"status": "error"'),
  });
}

/** Rounds are summed for throughput; latency percentiles are the worst round's, to stay conservative. */
function merge(rs: LoadResult[]): LoadResult {
  const requests = rs.reduce((a, r) => a + r.requests, 0);
  const seconds = rs.reduce((a, r) => a + r.seconds, 0);
  return {
    requests,
    errors: rs.reduce((a, r) => a + r.errors, 0),
    seconds,
    rps: requests / seconds,
    p50: Math.max(...rs.map((r) => r.p50)),
    p99: Math.max(...rs.map((r) => r.p99)),
    mean: rs.reduce((a, r) => a + r.mean * r.requests, 0) / Math.max(1, requests),
  };
}

function table(title: string, direct: LoadResult, proxy: LoadResult): string {
  const f = (n: number) => n.toFixed(2);
  const rows = [
    ['path', 'requests', 'errors', 'req/s', 'p50 ms', 'p99 ms'],
    ['direct', String(direct.requests), String(direct.errors), direct.rps.toFixed(0), f(direct.p50), f(direct.p99)],
    ['via proxy', String(proxy.requests), String(proxy.errors), proxy.rps.toFixed(0), f(proxy.p50), f(proxy.p99)],
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return (
    [
      title,
      line(rows[0]!),
      `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
      ...rows.slice(1).map(line),
      '',
      `added latency: p50 +${f(proxy.p50 - direct.p50)} ms, p99 +${f(proxy.p99 - direct.p99)} ms`,
      `throughput ratio (proxy / direct): ${(proxy.rps / direct.rps).toFixed(2)}`,
      '',
    ].join('\n') + '\n'
  );
}
