/** readSnapshot's ways of failing: a file that never holds still gives up with why; a still file that does not read is reported as it is. */
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

it('copies a file its agent cuts short while it is copied, and ends (fs.copyFile spun for good on the bytes cut)', async () => {
  const path = join(dir, 'store.json');
  const copy = join(dir, 'copy');
  const whole = Buffer.alloc(256 << 20, 0x20);
  whole.write('[1]');
  let midCopy = false;
  // The cut must come while the copy is under way: tried again where the copy was done before it came.
  for (let attempt = 0; attempt < 10 && !midCopy; attempt++) {
    writeFileSync(path, whole);
    rmSync(copy, { force: true });
    let done = false;
    const reading = readSnapshot(path, copy, parse).finally(() => (done = true));
    let copied = 0;
    while (!done && copied === 0) {
      await new Promise((r) => setImmediate(r));
      copied = existsSync(copy) ? statSync(copy).size : 0;
    }
    writeFileSync(path, '{"cut": true}');
    midCopy = !done && copied > 0 && copied < whole.length;
    // The file as it was before the cut, or after it: never a torn one, and never no answer.
    expect([{ cut: true }, [1]]).toContainEqual(await reading);
  }
  expect(midCopy, 'the cut came while the file was copied').toBe(true);
}, 60_000);
