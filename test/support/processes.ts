/** Processes as /proc shows them, for tests of what a process leaves behind when it is stopped or killed. */
import { readdir, readFile } from 'node:fs/promises';

/** Every live process below `root` with its command line, read from /proc. */
export async function descendants(root: number): Promise<Map<number, string>> {
  const parentOf = new Map<number, number>();
  const commandOf = new Map<number, string>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const status = await readFile(`/proc/${name}/status`, 'utf8').catch(() => '');
    if (!status || /^State:\s*Z/m.test(status)) continue;
    parentOf.set(Number(name), Number(/^PPid:\s*(\d+)/m.exec(status)?.[1]));
    commandOf.set(Number(name), (await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' '));
  }
  const below = new Map<number, string>();
  const walk = (pid: number) => {
    for (const [child, parent] of parentOf)
      if (parent === pid && !below.has(child)) {
        below.set(child, commandOf.get(child) ?? '');
        walk(child);
      }
  };
  walk(root);
  return below;
}
