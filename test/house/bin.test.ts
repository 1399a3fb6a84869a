/**
 * The README's first command runs the installed bin (`npx memshift`): dist/main.js, which the build makes. npm left it
 * without its execute bit when installing with CI=true (as .ci/run and many CI services do), and `npx memshift demo`
 * then failed with "Permission denied"; the build sets the bit itself.
 */
import { spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';

it('npx memshift runs the built bin', () => {
  const r = spawnSync('npx', ['--no-install', 'memshift', '--help'], { encoding: 'utf8', timeout: 60_000 });
  expect(`${r.stdout}${r.stderr}`).toContain('Usage: memshift <command>');
  expect(r.status).toBe(0);
});
