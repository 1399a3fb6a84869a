/**
 * Run by `npm test` before vitest starts and by `npm run bench` (the `pretest` and `prebench` scripts): installs the
 * Debian packages the suite and the bench need and the machine lacks, with apt's own time rather than a test hook's.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** What the suite runs, and the Debian package that brings it. */
const NEEDED: Record<string, string> = {
  '/usr/bin/chromium': 'chromium',
  '/usr/bin/python3': 'python3',
  '/usr/bin/promtool': 'prometheus',
  '/usr/bin/kubectl': 'kubernetes-client',
  // deploy/Dockerfile's init process (its apt-get step, which the Dockerfile-steps test leaves to this script).
  '/usr/bin/tini': 'tini',
  // The write-path bench's legacy baseline: SessionMemoryAgent's write path in Python (src/tools/bench/python-legacy.ts).
  '/usr/lib/python3/dist-packages/zmq/__init__.py': 'python3-zmq',
  // A lost host, as the store sees it: a connection's packets dropped (test/support/port-cut.ts).
  '/usr/sbin/nft': 'nftables',
  // A PostgreSQL speaking TLS with a private CA's certificate (test/store/tls.test.ts).
  '/usr/bin/openssl': 'openssl',
  // A pooler in front of the state store (test/store/pooler.test.ts).
  '/usr/sbin/pgbouncer': 'pgbouncer',
};

const missing = [
  ...new Set(
    Object.entries(NEEDED)
      .filter(([path]) => !existsSync(path))
      .map(([, pkg]) => pkg),
  ),
];
if (missing.length === 0) process.exit(0);
if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
  console.error(
    `memshift's tests and bench need Debian packages that are missing: ${missing.join(' ')} (install them, as root: apt-get install ${missing.join(' ')})`,
  );
  process.exit(1);
}
console.log(`installing Debian packages the tests and bench need: ${missing.join(' ')}`);
// The lock timeout lets a concurrent apt (unattended upgrades) finish first.
const apt = ['-o', 'DPkg::Lock::Timeout=300'];
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execFileSync('apt-get', [...apt, 'update'], { stdio: 'inherit', env });
execFileSync('apt-get', [...apt, 'install', '-y', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
for (const [path, pkg] of Object.entries(NEEDED)) {
  if (!existsSync(path)) {
    console.error(`apt-get installed ${pkg} but ${path} is still missing`);
    process.exit(1);
  }
}
