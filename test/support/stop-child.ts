/** Stops a memshift child process in a test's teardown, bounded: a shutdown that hangs is killed and its log's end printed. */
import type { Child } from '../../src/tools/bench/processes.js';

/**
 * Stops the child with SIGTERM; one still shutting down after `ms` is killed, its output's tail printed: its shutdown
 * names each part it waits on every 10 s (the proxy's CLOSE_WARN_MS), which is what a hang there needs to be found.
 */
export async function stopOrKill(child: Child, ms = 25_000): Promise<void> {
  const late = setTimeout(() => {
    console.warn(`memshift child still shutting down after ${ms} ms: killed; its output's end:\n${child.output().split('\n').slice(-60).join('\n')}`);
    void child.stop('SIGKILL');
  }, ms);
  try {
    await child.stop();
  } finally {
    clearTimeout(late);
  }
}
