/** Per-test-file PostgreSQL clusters in their own temp directories. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempDir {
  /** Where the cluster goes (not created yet). */
  dataDir: string;
  remove(): Promise<void>;
}

export async function tempDataDir(): Promise<TempDir> {
  const root = await mkdtemp(join(tmpdir(), 'memshift-store-'));
  return { dataDir: join(root, 'pg'), remove: () => rm(root, { recursive: true, force: true }) };
}
