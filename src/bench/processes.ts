/**
 * Runs memshift commands as child processes (the bench and crash tests need separate processes so
 * the load generator does not share an event loop with what it measures) and waits until they answer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as zmq from 'zeromq';

const BIN = fileURLToPath(new URL('../bin/memshift.js', import.meta.url));

export interface Child {
  proc: ChildProcess;
  /** Everything the child wrote, for error messages. */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function startChild(args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const proc = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, MEMSHIFT_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
