/** Opens the shared parts every process uses, the state store and the flags, as the config says. */
import type { Config } from '../config.js';
import { openFlags, type Flags } from '../flags/source.js';
import { openStore, type Store } from './index.js';
import type { WhenAway } from './schema.js';
import type { ValuesAtRest } from './at-rest.js';
import { makeRedactor } from '../util/redact.js';
import { Interrupt } from './interrupt.js';

/** store.valuesAtRest as the store applies it. */
export function valuesAtRestFor(config: Config): ValuesAtRest {
  const { valuesAtRest, fullValuesRetentionHours, redactionKey } = config.store;
  if (valuesAtRest === 'full') return { retentionMs: fullValuesRetentionHours * 3_600_000 };
  return { redact: makeRedactor(true, redactionKey === undefined ? undefined : Buffer.from(redactionKey)) };
}

export const openStoreFor = (config: Config, whenAway: WhenAway = 'fail'): Promise<Store> =>
  openStore({
    whenAway,
    url: config.store.url,
    dataDir: config.store.dataDir,
    sampleCapPerRoute: config.store.sampleCapPerRoute,
    keyLockWaitMs: config.store.keyLockWaitMs,
    keyLockLossGraceMs: config.store.keyLockLossGraceMs,
    connectionLossMs: config.store.connectionLossMs,
    statementTimeoutMs: config.store.statementTimeoutMs,
    valuesAtRest: valuesAtRestFor(config),
  });

/** With a store, the flags fetched from Unleash are kept there, for a start while Unleash is out of reach. */
export const openFlagsFor = (config: Config, store?: Store): Promise<Flags> =>
  openFlags({
    file: config.flags.file,
    url: config.flags.url,
    apiToken: config.flags.apiToken,
    refreshIntervalMs: config.flags.refreshIntervalMs,
    ...(store ? { fetched: store.fetchedFlags } : {}),
  });

/**
 * Runs `work` with the store open, and closes it whatever happens. SIGINT / SIGTERM end the process (130 / 143) once
 * the embedded server it started has stopped, unless `signals: false` (a command that stops gracefully on its own).
 */
export async function withStore<T>(config: Config, work: (store: Store) => Promise<T>, { signals = true } = {}): Promise<T> {
  const interrupt = signals ? new Interrupt() : undefined;
  // A failure after a signal is its doing (a terminal's Ctrl-C reaches the server too): the exit under way stands for it.
  const unlessInterrupted = (err: unknown) => interrupt?.exiting() ?? Promise.reject(err);
  try {
    const store = await openStoreFor(config).catch(unlessInterrupted);
    const exiting = interrupt?.arm(async () => store.embedded?.stop());
    if (exiting) return await exiting;
    try {
      return await work(store).catch(unlessInterrupted);
    } finally {
      await store.close();
    }
  } finally {
    interrupt?.dispose();
  }
}

/** Runs `work` with the store and the flags open, and closes both whatever happens (signals: as withStore). */
export function withStoreAndFlags<T>(config: Config, work: (store: Store, flags: Flags) => Promise<T>, opts: { signals?: boolean } = {}): Promise<T> {
  return withStore(
    config,
    async (store) => {
      const flags = await openFlagsFor(config, store);
      try {
        // A command acts on the flags as they are now, not as the fleet last kept them.
        await flags.answered(5_000);
        return await work(store, flags);
      } finally {
        await flags.close();
      }
    },
    opts,
  );
}
