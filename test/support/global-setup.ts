/**
 * One embedded PostgreSQL for the whole suite (each test file then makes its own database), so the
 * suite pays for one initdb instead of one per file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/store/embedded.js';

let pg: EmbeddedPostgresHandle | undefined;
let dir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  dir = mkdtempSync(join(tmpdir(), 'memshift-test-pg-'));
  pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg') });
  project.provide('pgUrl', pg.url);
}

export async function teardown(): Promise<void> {
  await pg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
  }
}
