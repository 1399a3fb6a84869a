/**
 * `memshift bench` stopped with SIGTERM (as `timeout` stops it) takes its processes with it: the simulators, the
 * forwarders, the proxies and their embedded PostgreSQL servers; and its scratch directory. They stayed before.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { waitUntil } from '../outbox/support.js';
import { descendants } from '../support/processes.js';

const BIN = fileURLToPath(new URL('../../src/bin/memshift.js', import.meta.url));

const alive = (pid: number) =>
  readFile(`/proc/${pid}/status`, 'utf8').then(
    (s) => !/^State:\s*Z/m.test(s),
    () => false,
  );

it('stops every process it started when it gets SIGTERM, removes its directory, and exits 143', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'memshift-bench-interrupt-'));
  // In a directory of its own: the off-stage proxy keeps its store in ./.memshift.
  const bench = spawn(process.execPath, [BIN, 'bench', '--only', 'proxy', '--rounds', '1', '--seconds', '120', '--let-cpus-idle'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  bench.stdout.on('data', (d: Buffer) => (output += d.toString()));
  bench.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => bench.once('exit', (code, signal) => r({ code, signal })));
  let seen = new Map<number, string>();
  try {
    // Both proxies up, each with its PostgreSQL, beside the simulator and the forwarders.
    await waitUntil(
      async () => {
        seen = await descendants(bench.pid!);
        const commands = [...seen.values()];
        return commands.filter((c) => c.includes('postgres -D')).length >= 2 && commands.filter((c) => c.includes(' serve ')).length >= 2;
      },
      120_000,
      'the bench started its proxies and their servers',
      async () => output.slice(-2000),
    );
    bench.kill('SIGTERM');
    expect(await exited).toEqual({ code: 143, signal: null });
    expect((await readdir(tmpdir())).filter((name) => name.startsWith('memshift-bench-') && name.includes(`-${bench.pid}-`))).toEqual([]);
    await waitUntil(
      async () => (await Promise.all([...seen.keys()].map(alive))).every((a) => !a),
      30_000,
      'every process the bench started is gone',
      async () => (await Promise.all([...seen].map(async ([pid, c]) => ((await alive(pid)) ? `${pid} ${c}` : '')))).filter(Boolean).join('\n'),
    );
  } finally {
    bench.kill('SIGKILL');
    for (const pid of seen.keys()) if (await alive(pid)) process.kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}, 240_000);
