#!/usr/bin/env node
// The built package's bin (dist/main.js): the compiled CLI, no TypeScript loader at run time.
import { main } from './cli.js';

await main(process.argv.slice(2));
