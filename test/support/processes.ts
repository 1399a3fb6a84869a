/** Processes as /proc shows them, for tests of what a process leaves behind when it is stopped or killed. */
import { readdir, readFile } from 'node:fs/promises';

/** Every live process: its parent, its process group and its command line. */
export async function liveProcesses(): Promise<Map<number, { parent: number; group: number; command: string }>> {
  const out = new Map<number, { parent: number; group: number; command: string }>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const status = await readFile(`/proc/${name}/status`, 'utf8').catch(() => '');
    if (!status || /^State:\s*Z/m.test(status)) continue;
    const command = (await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ');
    out.set(Number(name), { parent: Number(/^PPid:\s*(\d+)/m.exec(status)?.[1]), group: Number(/^NSpgid:\s*(\d+)/m.exec(status)?.[1]), command });
  }
  return out;
}

/** Every live process below `root` with its command line. */
export async function descendants(root: number): Promise<Map<number, string>> {
  const all = await liveProcesses();
  const below = new Map<number, string>();
  const walk = (pid: number) => {
    for (const [child, { parent, command }] of all)
      if (parent === pid && !below.has(child)) {
        below.set(child, command);
        walk(child);
      }
  };
  walk(root);
  return below;
}

/** Every live process of process group `group` (a group outlives its leader: orphans keep it). */
export async function groupMembers(group: number): Promise<number[]> {
  return [...(await liveProcesses())].filter(([, p]) => p.group === group).map(([pid]) => pid);
}
