/** A test's handle on the simulators' own process (sim-process-main.ts): stop and continue it, read its records. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { SimOptions, SimTarget } from '../../src/tools/sim/index.js';
import type { Keyed } from './records.js';
import { waitUntil } from '../outbox/support.js';

type Reply = { endpoints: Record<SimTarget, string> } | { id: number; legacy: string[][]; fresh: string[][] };

export class SimProcess {
  private nextId = 0;
  private readonly waiting = new Map<number, (r: Extract<Reply, { id: number }>) => void>();

  private constructor(
    private readonly proc: ChildProcess,
    readonly endpoints: Record<SimTarget, string>,
  ) {
    proc.on('message', (r: Reply) => {
      if ('id' in r) this.waiting.get(r.id)?.(r);
    });
  }

  /** With `storage`, the simulators keep their stores on disk and in PostgreSQL (SimOptions.storage). */
  static start(storage?: SimOptions['storage']): Promise<SimProcess> {
    const main = fileURLToPath(new URL('./sim-process-main.ts', import.meta.url));
    const args = storage ? [JSON.stringify(storage)] : [];
    const proc = spawn(process.execPath, ['--import', 'tsx', main, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Promise((resolve, reject) => {
      proc.once('exit', (code) => reject(new Error(`simulator process exited (${code}) before it served`)));
      proc.once('message', (r: Reply) => {
        if ('endpoints' in r) resolve(new SimProcess(proc, r.endpoints));
      });
    });
  }

  /** SIGSTOP (true) or SIGCONT (false) for the whole process; resolves once the kernel shows it so. */
  async stopped(on: boolean): Promise<void> {
    this.proc.kill(on ? 'SIGSTOP' : 'SIGCONT');
    const pid = this.proc.pid!;
    // /proc/<pid>/stat: "pid (comm) state ...", T for stopped by a signal.
    const state = async () => (await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /s, '')[0];
    await waitUntil(async () => ((await state()) === 'T') === on, 10_000, on ? 'simulator process stopped' : 'simulator process running');
  }

  /** Both sides' records of each agent's key, as the process holds them now. */
  records(agents: Keyed[]): Promise<{ legacy: string[][]; fresh: string[][] }> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, (r) => {
        this.waiting.delete(id);
        resolve(r);
      });
      this.proc.send({ id, agents });
    });
  }

  close(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.proc.once('exit', () => resolve());
      this.proc.kill('SIGCONT');
      this.proc.disconnect();
    });
  }
}
