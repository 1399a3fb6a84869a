/** KeyChains: one key's work in order, other keys beside it, and a work's hold keeping its key past its end. */
import { expect, it } from 'vitest';
import { KeyChains } from '../../src/util/key-chains.js';

const later = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

it("runs a key's work one after another and other keys beside it", async () => {
  const chains = new KeyChains();
  const seen: string[] = [];
  await Promise.all([
    chains.run('a', async () => {
      await later(30);
      seen.push('a1');
    }),
    chains.run('a', async () => void seen.push('a2')),
    chains.run('b', async () => void seen.push('b1')),
  ]);
  expect(seen).toEqual(['b1', 'a1', 'a2']);
  await chains.idle();
  expect(chains.size).toBe(0);
});

it("keeps the key's next work waiting for what a finished (or failed) work holds, and not for a held failure", async () => {
  const chains = new KeyChains();
  const seen: string[] = [];
  let release!: () => void;
  const first = chains.run('k', async (hold) => {
    hold(new Promise<void>((r) => (release = r)).then(() => void seen.push('held done')));
    throw new Error('answered first');
  });
  await expect(first).rejects.toThrow('answered first');
  const second = chains.run('k', async (hold) => {
    seen.push('second');
    hold(Promise.reject(new Error('held failure')));
  });
  await later(50);
  expect(seen).toEqual([]);
  release();
  await second;
  await chains.run('k', async () => void seen.push('third'));
  expect(seen).toEqual(['held done', 'second', 'third']);
});
