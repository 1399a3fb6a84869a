/** The in-memory secondary (outbox.enabled false) says which keys still have a write on its way to a side, as the outbox's table does. */
import { expect, it } from 'vitest';
import { Observation } from '../../src/comparison/observation.js';
import { fanOut } from '../../src/plan/observer.js';
import { InMemoryWrites } from '../../src/plan/secondary.js';
import type { Route } from '../../src/routes/route.js';

it('counts a write towards its side, key and service from its primary answer until it landed', async () => {
  let land = () => {};
  const landed = new Promise<void>((r) => (land = r));
  const writes = new InMemoryWrites(async () => {
    await landed;
    return new Observation('legacy', 1, { value: { status: 'ok' } });
  }, fanOut([]));
  const route = { service: 'jarvis-memory', action: 'add_memory', key: 'ana' } as Route;
  const pending = await writes.open({ route, side: 'legacy', done: () => undefined });
  expect(await writes.unlanded('jarvis-memory', 'ana', 'legacy')).toBe(false);
  pending.settle('applied');
  expect(await writes.unlanded('jarvis-memory', 'ana', 'legacy')).toBe(true);
  expect(await writes.anyUnlanded('jarvis-memory', 'legacy')).toBe(true);
  // Not another side, key or service.
  expect(await writes.unlanded('jarvis-memory', 'ana', 'new')).toBe(false);
  expect(await writes.unlanded('jarvis-memory', 'bo', 'legacy')).toBe(false);
  expect(await writes.anyUnlanded('session-memory', 'legacy')).toBe(false);
  land();
  await writes.drain();
  expect(await writes.unlanded('jarvis-memory', 'ana', 'legacy')).toBe(false);
  expect(await writes.anyUnlanded('jarvis-memory', 'legacy')).toBe(false);
});
