/**
 * What a `memshift serve` child bound, read from its "memshift serving" block: tests give it `tcp://127.0.0.1:*`
 * and `http.port=0`, so no port is picked beforehand that another test's process could take first.
 */
import type { Child } from '../../src/tools/bench/processes.js';

/** Each front's endpoint and `http`, by name, once the child serves; rejects when it exits first or takes too long. */
export async function servingEndpoints(child: Child, timeoutMs = 60_000): Promise<Record<string, string>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const block = /^memshift serving\n((?: {2}\S+ +\S+\n)*? {2}http +\S+\n)/m.exec(child.output());
    if (block)
      return Object.fromEntries(
        block[1]!
          .trimEnd()
          .split('\n')
          .map((line) => line.trim().split(/ +/) as [string, string]),
      );
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) throw new Error(`memshift exited before serving:\n${child.output()}`);
    if (Date.now() > deadline) throw new Error(`memshift not serving after ${timeoutMs} ms:\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
