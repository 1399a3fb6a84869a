/** A memshift command run in this process: its exit code and what it printed on stdout (errors are thrown). */
import type { Command } from '../../src/commands/define.js';

export async function runCommand(command: Command, args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += chunk.toString();
    return true;
  }) as typeof process.stdout.write;
  try {
    return { code: (await command.run(args)) ?? 0, out };
  } finally {
    process.stdout.write = write;
  }
}
