#!/usr/bin/env node
// The bin is plain JS so `npx memshift` needs no build step: tsx loads the TypeScript sources directly.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli.ts');
await main(process.argv.slice(2));
