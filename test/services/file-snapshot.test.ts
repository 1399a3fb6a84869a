/** readSnapshot's ways of failing: a file that never holds still gives up with why; a still file that does not read is reported as it is. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { readSnapshot } from '../../src/services/file-snapshot.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'memshift-snapshot-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const parse = async (file: string) => JSON.parse(await readFile(file, 'utf8')) as unknown;

it('reads a copy of a still file', async () => {
  writeFileSync(join(dir, 'store.json'), '{"a": [1]}');
  expect(await readSnapshot(join(dir, 'store.json'), join(dir, 'copy'), parse)).toEqual({ a: [1] });
});

it('gives up on a file with a journal standing beside it, naming the journal', async () => {
  const path = join(dir, 'session_memory.db');
  writeFileSync(path, 'x');
  writeFileSync(`${path}-wal`, 'x');
  let reads = 0;
  const read = async () => reads++;
  await expect(readSnapshot(path, join(dir, 'copy'), read, { busyBeside: [`${path}-journal`, `${path}-wal`], waitMs: 300 })).rejects.toThrow(
    /no whole copy of it in 300 ms \(.*session_memory\.db-wal stood beside it\)/,
  );
  expect(reads).toBe(0);
});

it('reports a still file that does not read with its own error, not as torn', async () => {
  writeFileSync(join(dir, 'store.json'), '{"a": [1');
  await expect(readSnapshot(join(dir, 'store.json'), join(dir, 'copy'), parse, { waitMs: 5_000 })).rejects.toThrow(SyntaxError);
});
