/** Small real backends for the leg tests: REP echoes (zeromq.js, and Python's pyzmq) and a reply-reordering ROUTER. */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { expect } from 'vitest';
import * as zmq from 'zeromq';
import { LegError, type LegFailure } from '../../src/legs/index.js';

export interface RepBackend {
  endpoint: string;
  /** How many requests it has answered (late replies included). */
  answered(): number;
  close(): void;
}

/** REP echo; a request starting with `slow:` is held `slowMs` first, one starting with `hold:` never answered. */
export async function startRep(endpoint = 'tcp://127.0.0.1:*', slowMs = 300): Promise<RepBackend> {
  const sock = new zmq.Reply({ linger: 0 });
  // A port just given up by a closed socket is let go of by ZeroMQ's I/O thread a moment later: retry the bind.
  for (let attempt = 0; ; attempt++) {
    try {
      await sock.bind(endpoint);
      break;
    } catch (err) {
      if (attempt >= 100 || !/in use/i.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  let answered = 0;
  void (async () => {
    try {
      for await (const [msg] of sock) {
        const text = msg?.toString() ?? '';
        // Never answered, and the loop stays parked so the socket lives until the test closes it.
        if (text.startsWith('hold:')) await new Promise(() => undefined);
        if (text.startsWith('slow:')) await new Promise((r) => setTimeout(r, slowMs));
        await sock.send(msg ?? Buffer.alloc(0));
        answered++;
      }
    } catch {
      // closed by the test
    }
  })();
  return { endpoint: sock.lastEndpoint!, answered: () => answered, close: () => sock.close() };
}

/**
 * A REP echo in Debian's python3 and pyzmq, as the legacy services are, in a process of its own (a test can stop it);
 * with `log`, each request is appended to that file, a line, before it is answered (as a service applies a write),
 * `workMs` after it was taken.
 */
export async function startPythonRep(log?: string, workMs = 0): Promise<{ endpoint: string; port: number; proc: ChildProcess; close(): void }> {
  const script = `import sys, time, zmq
s = zmq.Context().socket(zmq.REP)
print(s.bind_to_random_port('tcp://127.0.0.1'), flush=True)
log = open(sys.argv[1], 'a') if sys.argv[1] else None
while True:
    m = s.recv()
    time.sleep(float(sys.argv[2]))
    if log:
        log.write(m.decode() + '\\n')
        log.flush()
    s.send(m)
`;
  const proc = spawn('/usr/bin/python3', ['-c', script, log ?? '', String(workMs / 1000)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    proc.once('error', reject);
    proc.once('exit', (code) => reject(new Error(`python3 REP exited (${code}) before it bound`)));
    proc.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
  });
  return { endpoint: `tcp://127.0.0.1:${port}`, port, proc, close: () => proc.kill('SIGKILL') };
}

/**
 * ROUTER that waits for `batch` requests and answers them in REVERSE order, each reply `reply:<payload>`,
 * so a leg that matched replies by arrival order would hand every call someone else's reply.
 */
export async function startReversingRouter(batch: number): Promise<{ endpoint: string; replyOrder: string[]; close(): void }> {
  const sock = new zmq.Router({ linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0 });
  await sock.bind('tcp://127.0.0.1:*');
  const replyOrder: string[] = [];
  void (async () => {
    let held: Buffer[][] = [];
    try {
      for await (const frames of sock) {
        held.push(frames);
        if (held.length < batch) continue;
        const answering = held.reverse();
        held = [];
        for (const [identity, callId, delimiter, payload] of answering) {
          replyOrder.push(payload!.toString());
          await sock.send([identity!, callId!, delimiter!, Buffer.concat([Buffer.from('reply:'), payload!])]);
        }
      }
    } catch {
      // closed by the test
    }
  })();
  return { endpoint: sock.lastEndpoint!, replyOrder, close: () => sock.close() };
}

/** An endpoint nothing listens on, and no other test will bind meanwhile. */
export async function deadEndpoint(): Promise<string> {
  // Below the ephemeral range (32768-60999) that every bind to port 0 in the suite draws from: a port freed
  // there could be taken by another test file's backend before this one connects.
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if (await refused(port)) return `tcp://127.0.0.1:${port}`;
  }
}

const refused = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const probe = connect(port, '127.0.0.1');
    probe.once('connect', () => {
      probe.destroy();
      resolve(false);
    });
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });

/** The failure a call rejected with; fails the test if it resolved or threw something else. */
export async function failureOf(p: Promise<unknown>): Promise<LegFailure> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(LegError);
    return (err as LegError).failure;
  }
  throw new Error('call unexpectedly succeeded');
}
