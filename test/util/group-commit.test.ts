/** Group commit: a lone item goes at once, items that come while a batch is stored go together next, each hears its own outcome. */
import { expect, it } from 'vitest';
import { GroupCommit } from '../../src/util/group-commit.js';

/** A store whose batches finish when the test says so. */
function heldStore() {
  const batches: { items: number[]; finish(errors?: unknown[]): void; fail(err: unknown): void }[] = [];
  const store = (items: number[]) =>
    new Promise<readonly unknown[]>((resolve, reject) => batches.push({ items, finish: (errors = []) => resolve(errors), fail: reject }));
  return { batches, store };
}

const tick = () => new Promise((r) => setImmediate(r));

it('stores a lone item at once and the items that came meanwhile as one batch, a lane at a time', async () => {
  const { batches, store } = heldStore();
  const group = new GroupCommit(store, 1, 100);
  const first = group.add(1);
  await tick();
  expect(batches.map((b) => b.items)).toEqual([[1]]);
  const later = [2, 3, 4].map((n) => group.add(n));
  await tick();
  expect(batches).toHaveLength(1);
  batches[0]!.finish();
  await first;
  await tick();
  expect(batches.map((b) => b.items)).toEqual([[1], [2, 3, 4]]);
  batches[1]!.finish();
  await Promise.all(later);
});

it('gives each item its own error, fails a whole batch together, and caps batches at maxBatch', async () => {
  const { batches, store } = heldStore();
  const group = new GroupCommit(store, 2, 2);
  const outcomes = [1, 2, 3, 4, 5].map((n) =>
    group.add(n).then(
      () => 'stored',
      (err: unknown) => String(err),
    ),
  );
  await tick();
  // Two lanes: the first two items go at once, each alone; the rest wait for a lane, two to a batch.
  expect(batches.map((b) => b.items)).toEqual([[1], [2]]);
  batches[0]!.finish();
  batches[1]!.fail('store down');
  await tick();
  expect(batches.map((b) => b.items)).toEqual([[1], [2], [3, 4], [5]]);
  batches[2]!.finish([undefined, 'refused']);
  batches[3]!.finish();
  expect(await Promise.all(outcomes)).toEqual(['stored', 'store down', 'stored', 'refused', 'stored']);
});

it('lets a short batch linger for more items when asked, and sends a full one at once', async () => {
  const { batches, store } = heldStore();
  const group = new GroupCommit(store, 1, 3, 500);
  const first = [1, 2].map((n) => group.add(n));
  await tick();
  expect(batches).toHaveLength(0);
  const third = group.add(3);
  await tick();
  expect(batches.map((b) => b.items)).toEqual([[1, 2, 3]]);
  batches[0]!.finish();
  await Promise.all([...first, third]);
  const fourth = group.add(4);
  for (const deadline = Date.now() + 10_000; !batches[1] && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 5));
  expect(batches.map((b) => b.items)).toEqual([[1, 2, 3], [4]]);
  batches[1]!.finish();
  await fourth;
});
