/** A command from its usage text, its options and what it does with them: the argument parsing every command shares. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** One `memshift <command>`: its usage text and what it does with its arguments (exit code). */
export interface Command {
  usage: string;
  run(argv: string[]): Promise<number | void>;
}

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true }>>;

/** Options every command that reads the configuration takes. */
export const CONFIG_OPTIONS = {
  config: { type: 'string' },
  set: { type: 'string', multiple: true },
} as const satisfies Options;

export function defineCommand<const O extends Options>(usage: string, options: O, run: (parsed: Parsed<O>) => Promise<number | void>): Command {
  return { usage, run: (argv) => run(parseArgs({ args: argv, options, allowPositionals: true })) };
}
