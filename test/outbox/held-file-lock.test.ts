/**
 * outbox.heldFile on its own: what a process appended is read back by the next (a last line cut short by a kill left
 * out), emptied by clear(), and a file whose lock a live process holds is not used (another one's pid: memory only).
 */
import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { HeldFile } from '../../src/outbox/held-file.js';
import type { OutboxIntent } from '../../src/outbox/table.js';

let dir = '';
beforeAll(async () => void (dir = await mkdtemp(join(tmpdir(), 'memshift-heldfile-'))));
afterAll(async () => rm(dir, { recursive: true, force: true }));

const intent = (n: number): OutboxIntent => ({
  id: `id-${n}`,
  service: 'session-memory',
  key: `s${n}`,
  action: 'add_interaction',
  side: 'new',
  raw: Buffer.from(`{"action": "add_interaction", "session_id": "s${n}", "content": "caf\u00e9 ${n}"}`),
  effect: `effect-${n}`,
  createdAt: new Date(Date.UTC(2026, 10, 30, 12, 0, n)),
});

it('reads back what an earlier process appended, leaving out a line cut short, and is emptied by clear()', async () => {
  const path = join(dir, 'held.jsonl');
  const first = HeldFile.open(path)!;
  expect(first.held).toEqual([]);
  await Promise.all([first.file.append(intent(1)), first.file.append(intent(2))]);
  first.file.close();
  // A kill in the middle of a write: its line cut short (never acknowledged).
  await appendFile(path, '{"id":"id-9","service":"sess');

  const second = HeldFile.open(path)!;
  expect(second.held).toEqual([intent(1), intent(2)]);
  // Appended after the cut line, it is read back whole.
  await second.file.append(intent(3));
  second.file.close();
  const third = HeldFile.open(path)!;
  expect(third.held).toEqual([intent(1), intent(2), intent(3)]);
  const later = third.file.append(intent(4));
  await third.file.clear();
  await later;
  expect(await readFile(path, 'utf8')).toBe('');
  await third.file.append(intent(5));
  third.file.close();
  expect(HeldFile.open(path)!.held).toEqual([intent(5)]);
});

it('is not used while another live process holds its lock, and is taken from a dead one', async () => {
  const path = join(dir, 'locked.jsonl');
  const other = spawn('sleep', ['60']);
  try {
    await writeFile(`${path}.lock`, `${other.pid}\n`);
    expect(HeldFile.open(path)).toBeUndefined();
  } finally {
    other.kill('SIGKILL');
    await new Promise((r) => other.once('exit', r));
  }
  // The same pid, now dead: stale.
  const taken = HeldFile.open(path);
  expect(taken).toBeDefined();
  expect((await readFile(`${path}.lock`, 'utf8')).trim()).toBe(String(process.pid));
  taken!.file.close();
});
