/** The state store's public surface: open it, then use its id map, comparison counts and samples. */
export { openStore, type Store, type StoreOptions } from './db.js';
export type { ComparisonCounts, ComparisonRecord, Outcome, SummaryRow, SeriesRow, CountsRow } from './comparisons.js';
export type { MismatchSamples, SampleInput, Sample, DiffEntry } from './samples.js';
export type { PgIdMap } from './id-map.js';
export { startEmbeddedPostgres, DEFAULT_DATA_DIR, type EmbeddedPostgresHandle, type EmbeddedOptions } from './embedded.js';
export { MIGRATIONS, OUTCOMES, migrate, type Migration } from './migrations.js';
