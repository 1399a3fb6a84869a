/** When a turned-to side is watched (src/plan/turned.ts): from a turn, at least 10 s (two flags refreshes if longer) and until nothing is queued towards it, the store away or not. */
import { afterEach, expect, it, vi } from 'vitest';
import { Turns, turnWatchMs } from '../../src/plan/turns.js';

afterEach(() => {
  vi.useRealTimers();
});

it('watches a side turned to until the store says nothing is queued towards it, and tells while the store is away', async () => {
  vi.useFakeTimers();
  let queued: boolean | 'away' = false;
  const turns = new Turns(async () => (queued === 'away' ? Promise.reject(new Error('store away')) : queued), ['jarvis-memory'], turnWatchMs(1000));
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
    // The store away: still watched (nothing can be asked of a key either: the caller is told).
    queued = 'away';
    await vi.advanceTimersByTimeAsync(1_000);
    expect(turns.lagging('jarvis-memory', 'new', 'new')).toBe(true);
    expect(turns.away).toBe(true);
    queued = true;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(turns.lagging('jarvis-memory', 'new', 'new')).toBe(true);
    expect(turns.away).toBe(false);
    queued = false;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(turns.lagging('jarvis-memory', 'new', 'new')).toBe(false);
  } finally {
    turns.close();
  }
});

it('watches a turn at least two flags refreshes when Unleash is asked less often than every 5 s', async () => {
  // Unleash's own default refresh is 15 s: a replica may see the turn 15 s after another, writing first to the side
  // turned from meanwhile, so a 10 s watch would let the first replica serve those keys from the side without them.
  vi.useFakeTimers();
  const turns = new Turns(async () => false, ['jarvis-memory'], turnWatchMs(15_000));
  try {
    expect(turns.lagging('jarvis-memory', 'legacy', 'legacy')).toBe(true);
    await vi.advanceTimersByTimeAsync(600);
    expect(turns.lagging('jarvis-memory', 'new', 'new')).toBe(true);
    await vi.advanceTimersByTimeAsync(25_000);
    expect(turns.lagging('jarvis-memory', 'new', 'new')).toBe(true);
    await vi.advanceTimersByTimeAsync(6_000);
    expect(turns.lagging('jarvis-memory', 'new', 'new')).toBe(false);
  } finally {
    turns.close();
  }
});
