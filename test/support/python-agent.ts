/** A legacy agent written in Python (test/golden/legacy.py's `serve` mode, Debian's python3 with pyzmq), started and answering. */
import { fileURLToPath } from 'node:url';
import { startProgram, type Child } from '../../src/tools/bench/processes.js';
import { ReqClient } from './zmq-client.js';

const PROGRAM = fileURLToPath(new URL('../golden/legacy.py', import.meta.url));

/** The service on `endpoint` (an IPv6 address too), once it answers a health check; `env` such as its TZ. */
export async function startPythonAgent(service: string, endpoint: string, env: NodeJS.ProcessEnv = {}): Promise<Child> {
  const agent = startProgram('/usr/bin/python3', [PROGRAM, 'serve', service, endpoint], env);
  for (const deadline = Date.now() + 20_000; ;) {
    // ReqClient sets the ipv6 option an address in brackets needs; a REQ socket that timed out is done with.
    const probe = new ReqClient(endpoint, 500);
    try {
      await probe.call({ action: 'health_check' });
      return agent;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${service} agent on ${endpoint} did not answer: ${(err as Error).message}\n${agent.output()}`);
    } finally {
      probe.close();
    }
  }
}
