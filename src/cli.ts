/**
 * `memshift <command>`: each command lives in its own module under src/commands/ and is loaded
 * only when asked for, so `--help` and small commands start fast.
 */
import type { Command } from './commands/define.js';

interface Entry {
  summary: string;
  load: () => Promise<{ command: Command }>;
  /** Log level when MEMSHIFT_LOG_LEVEL is unset: commands that print their own story keep pino quiet. */
  logLevel?: string;
}

const COMMANDS: Record<string, Entry> = {
  serve: { summary: 'run the proxy (fronts, legs, flags, store)', load: () => import('./commands/serve.js') },
  sim: { summary: 'run the simulated legacy services and orchestrator', load: () => import('./commands/sim.js') },
  demo: { summary: 'simulators + proxy + traffic, walking the migration stages', load: () => import('./commands/demo.js'), logLevel: 'error' },
  bench: {
    summary: 'the proxy vs direct access and a bare forwarder, the durable write path, the reconciler at 1M records',
    load: () => import('./commands/bench.js'),
    logLevel: 'warn',
  },
  outbox: { summary: 'list, retry or purge durable secondary writes', load: () => import('./commands/outbox.js'), logLevel: 'warn' },
  reconcile: { summary: 'compare (and --repair) a legacy store with the orchestrator store', load: () => import('./commands/reconcile.js'), logLevel: 'warn' },
  backfill: {
    summary: 'copy a legacy store into the orchestrator (resumable), then reconcile',
    load: () => import('./commands/backfill.js'),
    logLevel: 'warn',
  },
  flags: {
    summary: "the rollout's controls (set, ramp, advance, rollback, kill-switch), stages, sync to Unleash",
    load: () => import('./commands/flags.js'),
    logLevel: 'warn',
  },
  config: { summary: 'check a configuration and every connection it names, without serving', load: () => import('./commands/config.js'), logLevel: 'warn' },
  guard: {
    summary: 'resume a service the guard rolled back, on a running proxy',
    load: () => import('./commands/guard.js'),
    logLevel: 'warn',
  },
  status: {
    summary: "a running proxy's services, stages, guard windows and outbox as one table",
    load: () => import('./commands/status.js'),
    logLevel: 'warn',
  },
  report: { summary: "write a day's reconciliation report (HTML with charts, Markdown, JSON)", load: () => import('./commands/report.js'), logLevel: 'warn' },
};

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    printHelp();
    return;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`memshift: unknown command "${name}"\n\n`);
    printHelp();
    process.exitCode = 2;
    return;
  }
  // Set before loading: loggers are made when their modules load.
  if (entry.logLevel && process.env.MEMSHIFT_LOG_LEVEL === undefined) process.env.MEMSHIFT_LOG_LEVEL = entry.logLevel;
  const { command } = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.usage}\n`);
    return;
  }
  try {
    const code = await command.run(rest);
    if (typeof code === 'number') process.exitCode = code;
  } catch (err) {
    process.stderr.write(`memshift ${name}: ${(err as Error).message}\n`);
    // 1 is a command's own answer (differences remain, a check failed), as diff(1) has it: a script running
    // `reconcile --repair` tells a refused or failed run from one that left differences.
    process.exitCode = 2;
  }
}

function printHelp(): void {
  const lines = ['Usage: memshift <command> [options]', '', 'Commands:'];
  for (const [name, { summary }] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${summary}`);
  lines.push('', 'Run `memshift <command> --help` for its options.');
  process.stdout.write(`${lines.join('\n')}\n`);
}
