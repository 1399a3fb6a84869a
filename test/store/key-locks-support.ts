/** The key-lock tests' replicas (each its own PgKeyLocks on one fresh database, closed after the file) and held work. */
import { afterAll, beforeAll } from 'vitest';
import { PgKeyLocks } from '../../src/store/key-locks.js';
import { freshDatabaseUrl } from '../support/database.js';

export const S = 'contextual-memory';

/** The file's database and the replicas opened on it; `replica` opens one more. */
export function useReplicas(): { db: { url: string; opened: PgKeyLocks[] }; replica: (waitMs?: number, lossGraceMs?: number) => PgKeyLocks } {
  const db = { url: '', opened: [] as PgKeyLocks[] };
  beforeAll(async () => {
    db.url = await freshDatabaseUrl();
  });
  afterAll(async () => {
    await Promise.all(db.opened.map((l) => l.close().catch(() => undefined)));
  });
  const replica = (waitMs?: number, lossGraceMs?: number) => {
    const locks = new PgKeyLocks(db.url, { waitMs, lossGraceMs });
    db.opened.push(locks);
    return locks;
  };
  return { db, replica };
}

/** A promise and the function that settles it. */
export function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
}

/** `locks` holding `key` with work that waits; resolves once the work has begun, with the call that ends it. */
export async function holding(locks: PgKeyLocks, key: string): Promise<{ release(): Promise<void> }> {
  const release = gate();
  const entered = gate();
  const held = locks.hold(S, key, async () => {
    entered.open();
    await release.opened;
  });
  await entered.opened;
  return {
    release: () => {
      release.open();
      return held;
    },
  };
}
