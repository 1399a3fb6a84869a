/**
 * The reconcile bench's parts as processes of their own, each printing its result as JSON after RESULT:
 * `fixture <service> <records> <differences> <legacy path> <database url> <analyzed>` generates a data set (SQLite's
 * WebAssembly heap only ever grows, so the measured process never holds the generator's), and `run <options
 * as JSON>` measures one run in a fresh process, so one size's figures do not carry another's leftovers.
 */
import pg from 'pg';
import { generateJarvisMemoryFixture, generateSessionMemoryFixture } from './fixtures.js';
import { benchReconcile, RESULT } from './reconcile.js';

const [mode, ...args] = process.argv.slice(2);

async function fixture([service, records, differences, legacyPath, url, analyzed]: string[]): Promise<unknown> {
  const orchestrator = new pg.Pool({ connectionString: url, max: 2 });
  try {
    const options = { records: Number(records), differences: Number(differences), orchestrator, analyzed: analyzed !== 'false' };
    return service === 'session-memory'
      ? await generateSessionMemoryFixture({ ...options, sqlitePath: legacyPath! })
      : await generateJarvisMemoryFixture({ ...options, jsonPath: legacyPath! });
  } finally {
    await orchestrator.end();
  }
}

const result = mode === 'fixture' ? await fixture(args) : await benchReconcile(JSON.parse(args[0]!) as Parameters<typeof benchReconcile>[0]);
process.stdout.write(`${RESULT}${JSON.stringify(result)}\n`);
