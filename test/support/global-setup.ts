/**
 * One embedded PostgreSQL for the whole suite (each test file then makes its own database), so the
 * suite pays for one initdb instead of one per file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/store/embedded.js';

/** PostgreSQL's default 100 ran out once dual-writing proxies held their key lock connections (4 each). */
const MAX_CONNECTIONS = 400;
let pg: EmbeddedPostgresHandle | undefined;
let dir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  dir = mkdtempSync(join(tmpdir(), 'memshift-test-pg-'));
  // Test files run side by side, each with its proxies (pools, outbox, key locks) and simulators on this one server.
  pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), maxConnections: MAX_CONNECTIONS });
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
