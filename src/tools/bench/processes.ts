/**
 * Runs memshift commands (and the bench's reference forwarder) as child processes, since the bench and
 * crash tests need the load generator apart from what it measures, waits until they answer, and stops them
 * all when the bench itself is stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as zmq from 'zeromq';
import { SIM_SERVICES, type SimService } from '../sim/services.js';
import { removeOwnScratch } from '../../util/scratch.js';

/** Run from the TypeScript sources (tests, `npm run bench`), or from the build (dist/, the installed package). */
const FROM_SOURCES = import.meta.url.endsWith('.ts');
/**
 * The bin children start from: $MEMSHIFT_BIN (the test suite points it at its fresh build of these sources), else the
 * one of the same tree as this file: the tsx-loading dev bin beside the sources, the compiled one in dist/.
 */
const BIN = process.env.MEMSHIFT_BIN || fileURLToPath(new URL(FROM_SOURCES ? '../../bin/memshift.js' : '../../main.js', import.meta.url));

export interface Child {
  proc: ChildProcess;
  /** Everything the child wrote, for error messages. */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** A `memshift <args>` child. */
export function startChild(args: string[], env: NodeJS.ProcessEnv = {}): Child {
  return startNode([BIN, ...args], env);
}

/** The probe every simulator and memshift front answers. */
export const HEALTH_CHECK = '{"action": "health_check"}';

/**
 * `memshift sim` serving the simulators given a port; the others, and the control endpoint, get none. Its
 * collections stay on its own thread, as a Python service's would: V8 marks a growing heap on helper threads
 * by default, which took CPU from what the bench measures (two cores) in bursts no real backend makes.
 */
export function startSim(ports: Partial<Record<SimService | 'orchestrator', number>>, extra: string[] = []): Child {
  const names = [...SIM_SERVICES, 'orchestrator'];
  const args = ['sim', ...names.flatMap((n) => ['--port', `${n}=${ports[n as SimService] ?? 0}`]), '--control-port', '0', ...extra];
  return startNode(['--single-threaded-gc', BIN, ...args]);
}

/** A module of this package (`./x.ts` beside the caller) run as its own process: by tsx from the sources, compiled from dist/. */
export function startScript(file: URL, args: string[], env: NodeJS.ProcessEnv = {}): Child {
  if (!FROM_SOURCES) return startNode([fileURLToPath(file).replace(/\.ts$/, '.js'), ...args], env);
  return startNode(['--import', import.meta.resolve('tsx'), fileURLToPath(file), ...args], env);
}

function startNode(argv: string[], env: NodeJS.ProcessEnv = {}): Child {
  return startProgram(process.execPath, argv, env);
}

/**
 * MEMSHIFT_CHILD_LOGS=<dir>: each child's output also in <dir>/<pid>.log, logged at level info, its first line when it
 * started and its arguments (the chaos probe's replicas, for looking into a failed run).
 */
const CHILD_LOGS = process.env.MEMSHIFT_CHILD_LOGS;

/** Any program as a bench child, its output kept. */
export function startProgram(file: string, argv: string[], env: NodeJS.ProcessEnv = {}): Child {
  const proc = spawn(file, argv, {
    env: { ...process.env, MEMSHIFT_LOG_LEVEL: CHILD_LOGS ? 'info' : 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (CHILD_LOGS) {
    const log = createWriteStream(join(CHILD_LOGS, `${proc.pid ?? 'unstarted'}.log`)).on('error', () => undefined);
    log.write(`${Date.now()} ${argv.join(' ')}\n`);
    proc.stdout!.pipe(log, { end: false });
    proc.stderr!.pipe(log, { end: false });
    proc.once('close', () => log.end());
  }
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return {
    proc,
    output: () => out,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill(signal);
      }),
  };
}

/** Polls a ZeroMQ REP-style endpoint with `probe` until it answers or `timeoutMs` passes. */
export async function waitForZmq(endpoint: string, probe: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const sock = new zmq.Request({ linger: 0, receiveTimeout: 300, sendTimeout: 300 });
    sock.connect(endpoint);
    try {
      await sock.send(probe);
      await sock.receive();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      sock.close();
    }
  }
  throw new Error(`${endpoint} did not answer within ${timeoutMs} ms`);
}

/**
 * On SIGINT or SIGTERM, stops every process this one started (simulators, forwarders, proxies, embedded PostgreSQL
 * servers) and removes its scratch directories, then exits as the signal would have. Node's default exit skipped the
 * bench's own clean-up, and its children ran on: a stopped bench left proxies and servers that the next one measured
 * beside.
 */
export function stopChildrenOnSignals(): void {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)
    process.once(
      signal,
      () =>
        void stopChildren()
          .then(removeOwnScratch)
          .finally(() => process.exit(code)),
    );
}

/**
 * SIGTERM to each child (a proxy stops its own server, a postmaster shuts down); then SIGINT to what they left
 * (a proxy stopped while it started leaves its server orphaned: SIGINT is PostgreSQL's fast shutdown); SIGKILL last.
 */
async function stopChildren(waitMs = 10_000): Promise<void> {
  const tree = await descendants();
  for (const pid of tree.children) signal(pid, 'SIGTERM');
  await untilGone(tree.children, waitMs);
  for (const sig of ['SIGINT', 'SIGKILL'] as const) {
    const left = await living(tree.all);
    for (const pid of left) signal(pid, sig);
    await untilGone(left, waitMs);
  }
}

async function untilGone(pids: number[], waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline && (await living(pids)).length) await new Promise((r) => setTimeout(r, 100));
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Gone meanwhile.
  }
}

/** Parent of each live process, from /proc. */
async function parents(): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    const status = await readFile(`/proc/${name}/status`, 'utf8').catch(() => '');
    if (status && !/^State:\s*Z/m.test(status)) out.set(Number(name), Number(/^PPid:\s*(\d+)/m.exec(status)?.[1]));
  }
  return out;
}

/** This process's children, and every process below it (those spawned by libraries too, such as an embedded server). */
async function descendants(): Promise<{ children: number[]; all: number[] }> {
  const parentOf = await parents();
  const all: number[] = [];
  for (let level = [process.pid]; level.length;) {
    level = [...parentOf].filter(([, parent]) => level.includes(parent)).map(([pid]) => pid);
    all.push(...level);
  }
  return { children: [...parentOf].filter(([, parent]) => parent === process.pid).map(([pid]) => pid), all };
}

async function living(pids: number[]): Promise<number[]> {
  const now = await parents();
  return pids.filter((pid) => now.has(pid));
}
