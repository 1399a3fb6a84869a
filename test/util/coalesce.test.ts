/** coalesced: one run at a time; calls during a run make one more run, never a pile of them. */
import { expect, it } from 'vitest';
import { coalesced } from '../../src/util/coalesce.js';

/** A job whose runs each wait for `release()`; `runs` counts the ones started. */
function gatedJob() {
  const state = { runs: 0, release: () => {} };
  const job = () => {
    state.runs++;
    return new Promise<void>((resolve) => (state.release = resolve));
  };
  return { state, job };
}

it('runs once more after a run that calls came in during, however many came, and they all see that run end', async () => {
  const { state, job } = gatedJob();
  const flush = coalesced(job);
  const first = flush();
  const during = Array.from({ length: 50 }, () => flush());
  expect(state.runs).toBe(1);
  let settled = 0;
  for (const p of [first, ...during]) void p.then(() => settled++);
  state.release();
  await new Promise((r) => setImmediate(r));
  // The one run more, for what was handed in meanwhile; nobody's promise has settled before it ends.
  expect(state.runs).toBe(2);
  expect(settled).toBe(0);
  state.release();
  await Promise.all([first, ...during]);
  expect(state.runs).toBe(2);
  // Idle again: the next call starts a run of its own.
  void flush();
  expect(state.runs).toBe(3);
  state.release();
});

it('rejects the callers of a run that failed, and starts afresh on the next call', async () => {
  let fail = true;
  let runs = 0;
  const flush = coalesced(async () => {
    runs++;
    if (fail) throw new Error('store away');
  });
  await expect(flush()).rejects.toThrow('store away');
  fail = false;
  await flush();
  expect(runs).toBe(2);
});
