/**
 * `memshift demo`: simulators, the embedded store, the proxy with offline flags and agents playing
 * traffic through the ZeroMQ fronts, walking the migration stages; a divergence fault is injected into
 * the orchestrator part way, and the comparison finds it.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CONFIG_OPTIONS, defineCommand } from './define.js';
import { loadConfig } from '../config.js';
import { serviceNames } from '../services/registry.js';
import { DEMO_STAGES } from '../tools/demo/stages.js';
import { formatSummary } from '../tools/demo/summary.js';
import { runTraffic, type TrafficResult } from '../tools/demo/traffic.js';
import { writeFlagsFile } from '../flags/edit.js';
import { startProxy } from '../proxy.js';
import { removeCluster } from '../store/embedded.js';
import { startSimulators } from '../tools/sim/index.js';
import { resumeHow } from '../guard/events.js';
import { breach } from '../report/format.js';

export const command = defineCommand(
  `Usage: memshift demo [--stage-seconds N] [--agents N] [--config FILE] [--set k=v ...]

Starts the simulated services (legacy on 5574/5596/5598, orchestrator on 5570), an embedded
PostgreSQL of its own under .memshift/demo/ (made anew each run), and the proxy (fronts on 15574/15596/15598, HTTP on 8080) with flags read
from .memshift/demo/flags.json; agents play traffic while the demo edits that file through the stages
off -> dual-write -> shadow 100% -> read-new 50% -> new-primary. Part way it makes the orchestrator
silently alter 2% of the writes it acknowledges; the guard rolls each service back and holds it there through the
later stages, as it would until a person resumes it. Ends with what was compared and found per service.
  --stage-seconds N   time spent in each stage (default 15)
  --agents N          concurrent simulated agents (default 12)`,
  {
    'stage-seconds': { type: 'string', default: '15' },
    agents: { type: 'string', default: '12' },
    ...CONFIG_OPTIONS,
  },
  async ({ values }) => {
    const stageMs = Number(values['stage-seconds']) * 1000;
    const dir = resolve('.memshift/demo');
    await mkdir(dir, { recursive: true });
    const flagsFile = join(dir, 'flags.json');
    await writeFlagsFile(flagsFile, DEMO_STAGES[0]!.edits);
    // A store and reports of its own, not `memshift serve`'s (the tour's): the simulators start empty each run.
    const own = { store: join(dir, 'pg'), reports: join(dir, 'reports') };
    const config = loadConfig({
      path: values.config,
      set: [`store.dataDir=${own.store}`, `report.dir=${own.reports}`, ...(values.set ?? []), `flags.file=${flagsFile}`],
    });
    // A run's trips, stages reached and gaps would be the next run's, against simulators that know nothing of them.
    if (config.store.url === undefined && resolve(config.store.dataDir) === own.store) await removeCluster(own.store);

    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const say = (line: string) => process.stdout.write(`${line}\n`);

    say('starting simulators, embedded PostgreSQL and the proxy ...');
    const sims = await startSimulators();
    try {
      const proxy = await startProxy(config);
      try {
        say(`agents connect to ${Object.values(proxy.fronts).join(', ')}; HTTP ${proxy.httpUrl}; flags ${flagsFile}\n`);
        proxy.guard?.onTrip((e) => {
          const why = e.breaches.map(breach).join(', ');
          say(`      guard: ${e.service} rolled back (${why}); ${e.flagsChanged.map((c) => `${c.flag} ${c.to}`).join(', ')}`);
        });
        const totals: TrafficResult = { sent: 0, errors: 0, byService: { 'session-memory': 0, 'contextual-memory': 0, 'jarvis-memory': 0 } };
        for (const [i, stage] of DEMO_STAGES.entries()) {
          if (stop.signal.aborted) break;
          await writeFlagsFile(flagsFile, stage.edits);
          say(`[${i + 1}/${DEMO_STAGES.length}] ${stage.name}: ${stage.what}`);
          const held = proxy.guard?.tripped() ?? [];
          if (held.length) {
            const at = held.map((s) => `${s} at ${proxy.flags.snapshot().services[s]?.stage ?? '?'}`).join(', ');
            say(`      held by the guard until a person resumes it (${resumeHow('<service>')}): ${at}`);
          }
          const diverge = stage.name === 'shadow 100%';
          const play = (ms: number, seed: number) =>
            runTraffic({
              fronts: proxy.fronts,
              agents: Number(values.agents),
              durationMs: ms,
              prefix: `demo${Date.now().toString(36)}`,
              seed,
              signal: stop.signal,
            });
          const runs = [await play(diverge ? stageMs / 2 : stageMs, i + 1)];
          if (diverge && !stop.signal.aborted) {
            say('      fault: the orchestrator now silently alters 2% of the writes it acknowledges');
            sims.setFaults('orchestrator', { divergence: { rate: 0.02, mode: 'alter' } });
            runs.push(await play(stageMs / 2, i + 101));
          }
          for (const r of runs) {
            totals.sent += r.sent;
            totals.errors += r.errors;
          }
          const t = serviceNames().map((s) => proxy.runner.stats.of(s));
          const compared = t.reduce((a, x) => a + x.compared, 0);
          const mismatches = t.reduce((a, x) => a + x.mismatches, 0);
          say(`      so far: ${totals.sent} requests, ${totals.errors} agent-visible errors, ${compared} compared, ${mismatches} mismatches`);
        }
        await proxy.runner.secondary.drain();
        say(`\n${formatSummary(proxy.runner.stats)}`);
        const report = await proxy.reporter.write();
        say('\nverdicts (daily reconciliation report):');
        for (const s of report.data.services) say(`  ${s.service.padEnd(18)} ${s.verdict.verdict}: ${s.verdict.reasons[0] ?? ''}`);
        if (config.report.dir) say(`report: ${resolve(config.report.dir, `${report.date}.html`)} (also .md, .json; and GET /admin/reports on the proxy)`);
      } finally {
        await proxy.close();
      }
    } finally {
      await sims.close();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
);
