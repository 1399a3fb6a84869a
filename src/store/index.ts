/** The state store's public surface: open it, then use its id map, comparison counts and samples. */
export { openStore, type Store } from './db.js';
export type { SummaryRow, CountsRow } from './comparisons.js';
