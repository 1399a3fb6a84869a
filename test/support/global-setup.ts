/**
 * One embedded PostgreSQL for the whole suite (each test file then makes its own database), so the
 * suite pays for one initdb instead of one per file.
 */
import { accessSync, constants, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, stopLeftServer, type EmbeddedPostgresHandle } from '../../src/store/embedded.js';
import { scratchDir } from '../../src/util/scratch.js';
import { useBuildForChildren } from './child-build.js';

const SETTINGS = {
  // PostgreSQL's default 100 ran out once dual-writing proxies held their key lock connections (4 each).
  max_connections: '400',
  // The suite kills processes, never the machine: a commit handed to the OS survives any of its crashes, so flushing
  // it to the disk buys the tests nothing (the 50,000-record backfill file wrote 11 GB with it, 0.4 GB without).
  fsync: 'off',
};
let pg: EmbeddedPostgresHandle | undefined;
let dir: string | undefined;

/**
 * The suite's scratch files in memory where the machine has a tmpfs and TMPDIR is not set: this server's data, the
 * simulators' stores, every test's directories (the test processes, forked later, inherit it). The same argument as
 * fsync off, one step on; and the simulators rewrite legacy stores synchronously in the test processes, as the agents
 * do, which a busy disk's writeback held for seconds (clean-clone run 89 wrote 12.6 GB; one agent's call timed out).
 */
function scratchInMemory(): void {
  const shm = '/dev/shm';
  if (process.env.TMPDIR) return;
  try {
    if (!statSync(shm).isDirectory()) return;
    accessSync(shm, constants.W_OK);
  } catch {
    return;
  }
  process.env.TMPDIR = shm;
}

export async function setup(project: TestProject): Promise<void> {
  // Vitest runs this for the root project and again for each project with files to run; those inherit what the
  // root provides, so one server serves them all (it started five, the projects' own module copies each with one).
  if (!project.isRootProject()) return;
  scratchInMemory();
  useBuildForChildren();
  // Named after this process: the next run stops the server of a run killed outright and removes its directory.
  dir = await scratchDir('memshift-test-pg', (left) => stopLeftServer(join(left, 'pg')));
  // Test files run side by side, each with its proxies (pools, outbox, key locks) and simulators on this one server.
  pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), settings: SETTINGS });
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
