/** The chaos probe's faults of the state store's server: paused (a hung host) or crashed (a backend killed, WAL recovery). */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sleep, waitUntil } from '../hangs/support.js';
import { queryOnce } from '../outbox/support.js';
import { descendants } from '../support/processes.js';

/** The state store's postmaster, by its lock file. */
async function postmasterOf(url: string): Promise<number> {
  const rows = await queryOnce<{ setting: string }>(url, "SELECT setting FROM pg_settings WHERE name = 'data_directory'");
  return Number((await readFile(join(rows[0]!.setting, 'postmaster.pid'), 'utf8')).split('\n')[0]);
}

/** Pauses the state store's whole server for `ms`: its postmaster first (no new backends), then each it started. */
export async function pauseStore(url: string, ms: number): Promise<void> {
  const postmaster = await postmasterOf(url);
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // a backend whose connection ended meanwhile
    }
  };
  signal(postmaster, 'SIGSTOP');
  const children = [...(await descendants(postmaster)).keys()];
  for (const pid of children) signal(pid, 'SIGSTOP');
  await sleep(ms);
  for (const pid of [...children, postmaster]) signal(pid, 'SIGCONT');
}

/**
 * Crashes the state store's server: one of memshift's connections' backends killed with SIGKILL. The postmaster then
 * ends every other connection (locks, transactions in flight) and recovers from its WAL; returns once it answers.
 */
export async function crashStore(url: string): Promise<void> {
  const postmaster = await postmasterOf(url);
  const backends = [...(await descendants(postmaster))].filter(([, command]) => command.includes('127.0.0.1('));
  // From the middle of the list on; a backend whose connection ended since the listing is gone (ESRCH, chaos seed 115
  // with CHAOS_SLOW): the next one is killed instead.
  const mid = Math.floor(backends.length / 2);
  const killed = [...backends.slice(mid), ...backends.slice(0, mid)].some(([pid]) => {
    try {
      process.kill(pid, 'SIGKILL');
      return true;
    } catch {
      return false;
    }
  });
  if (!killed) throw new Error('no backend of a client connection of the state store left to kill');
  await waitUntil(
    () =>
      queryOnce(url, 'SELECT 1').then(
        () => true,
        () => false,
      ),
    60_000,
    'the state store back after its crash',
  );
}
