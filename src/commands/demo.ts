/** `memshift demo`: written with the migration core (issue 3). */
import type { Command } from '../cli.js';

export const command: Command = {
  usage: 'Usage: memshift demo',
  async run() {
    throw new Error('the demo arrives with the migration core');
  },
};
