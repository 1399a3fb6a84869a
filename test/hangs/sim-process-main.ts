/**
 * The simulators in a process of their own, so that a test can stop it whole (SIGSTOP: libzmq's threads too, as a
 * stopped Python service). Over IPC it tells its endpoints, then answers each {id, agents} with both sides' records.
 * Its one argument, when given, is the simulators' storage options as JSON (stores on disk and in PostgreSQL).
 */
import { startSimulators, type SimOptions } from '../../src/tools/sim/index.js';
import { legacyRecords, newRecords, type Keyed } from './records.js';

const storage = process.argv[2] ? (JSON.parse(process.argv[2]) as SimOptions['storage']) : undefined;
const sims = await startSimulators({
  ports: { 'session-memory': 0, 'contextual-memory': 0, 'jarvis-memory': 0, orchestrator: 0 },
  controlPort: null,
  ...(storage ? { storage } : {}),
});
process.on('message', (m: { id: number; agents: Keyed[] }) => {
  process.send!({ id: m.id, legacy: m.agents.map((a) => legacyRecords(sims, a)), fresh: m.agents.map((a) => newRecords(sims, a)) });
});
process.once('disconnect', () => void sims.close().then(() => process.exit(0)));
process.send!({ endpoints: sims.endpoints });
