/** `memshift sim`: runs the simulated legacy services and orchestrator until interrupted. */
import { parseArgs } from 'node:util';
import type { Command } from './define.js';
import { isSimTarget, parseFaultAssignment, mergeFaults, noFaults, type Faults, type SimTarget } from '../tools/sim/faults.js';
import { DEFAULT_CONTROL_PORT, startSimulators, SIM_TARGETS } from '../tools/sim/index.js';

const usage = `Usage: memshift sim [options]

Runs SessionMemoryAgent, contextual_memory_pc2, jarvis_memory_pc2 and the Memory Orchestrator as
simulators on real ZeroMQ REP sockets.

Options:
  --host H                          bind address (default 127.0.0.1)
  --port target=N                   port of one target (repeatable; 0 = ephemeral)
  --contextual-mode faithful|as-deployed
                                    faithful bare replies, or the deployed loop's error replies (default faithful)
  --control-port N                  HTTP fault control port (default ${DEFAULT_CONTROL_PORT}; 0 = ephemeral); its routes
                                    need "Authorization: Bearer $MEMSHIFT_ADMIN_TOKEN" and are off without that token
  --data-dir DIR                    keep the legacy stores in their real formats under DIR (session_memory.db,
                                    contextual_memory_store.json, jarvis_memory_store.json); default in memory
  --orchestrator-db URL             keep the orchestrator's state in PostgreSQL (its schema); default in memory
  --fault target.key=value          initial fault (repeatable), e.g. orchestrator.latencyMs=50,
                                    jarvis-memory.divergence.rate=0.1, session-memory.down=true
Targets: ${SIM_TARGETS.join(', ')}`;

function parsePort(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${what}: "${text}" is not a port`);
  return n;
}

export const command: Command = {
  usage,
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        host: { type: 'string' },
        port: { type: 'string', multiple: true },
        'contextual-mode': { type: 'string' },
        'control-port': { type: 'string' },
        fault: { type: 'string', multiple: true },
        'data-dir': { type: 'string' },
        'orchestrator-db': { type: 'string' },
      },
      strict: true,
    });
    const mode = values['contextual-mode'] ?? 'faithful';
    if (mode !== 'faithful' && mode !== 'as-deployed') throw new Error(`--contextual-mode must be faithful or as-deployed, not "${mode}"`);

    const ports: Partial<Record<SimTarget, number>> = {};
    for (const p of values.port ?? []) {
      const [target, port] = p.split('=');
      if (!target || port === undefined || !isSimTarget(target))
        throw new Error(`--port "${p}": expected target=N with target one of ${SIM_TARGETS.join(', ')}`);
      ports[target] = parsePort(port, '--port');
    }
    const faults: Partial<Record<SimTarget, Faults>> = {};
    for (const f of values.fault ?? []) {
      const { target, patch } = parseFaultAssignment(f);
      faults[target] = mergeFaults(faults[target] ?? noFaults(), patch);
    }

    const sim = await startSimulators({
      host: values.host ?? '127.0.0.1',
      ports,
      contextualMode: mode,
      faults,
      storage: {
        ...(values['data-dir'] ? { dataDir: values['data-dir'] } : {}),
        ...(values['orchestrator-db'] ? { orchestratorDatabaseUrl: values['orchestrator-db'] } : {}),
      },
      controlPort: values['control-port'] === undefined ? DEFAULT_CONTROL_PORT : parsePort(values['control-port'], '--control-port'),
    });
    const lines = SIM_TARGETS.map((t) => `  ${t.padEnd(18)} ${sim.endpoints[t]}${sim.getFaults()[t].down ? '  (down)' : ''}`);
    if (sim.controlUrl) lines.push(`  ${'control'.padEnd(18)} ${sim.controlUrl}/faults`);
    process.stdout.write(`memshift sim: contextual mode ${mode}\n${lines.join('\n')}\n`);

    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await sim.close();
    return 0;
  },
};
