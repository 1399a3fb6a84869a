/**
 * Where the bench's processes run: pinning them (every thread, zeromq's I/O thread included) to CPUs
 * with taskset, to measure the proxy with a core of its own as a sidecar would have.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The CPUs this process may use, or none when taskset is missing. */
export async function usableCpus(): Promise<number[]> {
  try {
    const { stdout } = await run('taskset', ['-pc', String(process.pid)]);
    return parseCpuList(stdout.slice(stdout.lastIndexOf(':') + 1).trim());
  } catch {
    return [];
  }
}

/** "0-2,5" -> [0, 1, 2, 5] */
export function parseCpuList(list: string): number[] {
  return list.split(',').flatMap((part) => {
    const range = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!range) return [];
    const [from, to] = [Number(range[1]), Number(range[2] ?? range[1])];
    return Array.from({ length: to - from + 1 }, (_, i) => from + i);
  });
}

/** Moves every thread of `pid` onto `cpus`. */
export async function pin(pid: number, cpus: number[]): Promise<void> {
  await run('taskset', ['-a', '-pc', cpus.join(','), String(pid)]);
}
