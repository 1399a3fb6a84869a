/** When a turned-to side is watched (src/plan/turned.ts): from a turn, at least 10 s and until nothing is queued towards it; not while the store is away. */
import { afterEach, expect, it, vi } from 'vitest';
import { Turns } from '../../src/plan/turned.js';

afterEach(() => {
  vi.useRealTimers();
});

it('watches a side turned to until the store says nothing is queued towards it, and moves nothing while the store is away', async () => {
  vi.useFakeTimers();
  let queued: boolean | 'away' = false;
  const turns = new Turns(async () => (queued === 'away' ? Promise.reject(new Error('store away')) : queued), ['jarvis-memory']);
  try {
    // Watched from the start until the first poll finds nothing queued.
    expect(turns.lagging('jarvis-memory', 'legacy', 'legacy')).toBe(true);
    await vi.advanceTimersByTimeAsync(600);
    expect(turns.lagging('jarvis-memory', 'legacy', 'legacy')).toBe(false);

    // A turn to new: watched at least 10 s, though nothing is queued.
    expect(turns.lagging('jarvis-memory', 'new', 'new')).toBe(true);
    await vi.advanceTimersByTimeAsync(9_000);
    expect(turns.lagging('jarvis-memory', 'new', 'new')).toBe(true);
    expect(turns.lagging('jarvis-memory', 'new', 'legacy')).toBe(false);
    // Then for as long as writes are queued towards it.
    queued = true;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(turns.lagging('jarvis-memory', 'new', 'new')).toBe(true);
    // The store away: nothing can be asked of a key either, so no request is moved meanwhile.
    queued = 'away';
    await vi.advanceTimersByTimeAsync(1_000);
    expect(turns.lagging('jarvis-memory', 'new', 'new')).toBe(false);
    queued = true;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(turns.lagging('jarvis-memory', 'new', 'new')).toBe(true);
    queued = false;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(turns.lagging('jarvis-memory', 'new', 'new')).toBe(false);
  } finally {
    turns.close();
  }
});
