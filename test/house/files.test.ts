/** The house rules a linter does not check: every file says what it is in its first line, and a long file says why. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const MAX_LINES = 300;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : /\.(ts|js)$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

const files = [...sources('src'), ...sources('test')].map((path) => ({ path, text: readFileSync(path, 'utf8') }));

it('every file opens with a comment saying what it is', () => {
  const bare = files.filter(({ text }) => !/^(#!.*\n)?(\/\*\* |\/\*\*\n \* |\/\/ )\S/.test(text)).map((f) => f.path);
  expect(bare).toEqual([]);
  expect(files.length).toBeGreaterThan(100);
});

it(`a file over ${MAX_LINES} lines gives its reason at the top`, () => {
  const long = files.filter(({ text }) => text.split('\n').length - 1 > MAX_LINES);
  const header = (text: string) => text.slice(0, text.indexOf('*/') + 2);
  expect(long.filter(({ text }) => !/Over 300 lines: \S/.test(header(text))).map((f) => f.path)).toEqual([]);
  expect(long.length).toBeGreaterThan(0);
});
