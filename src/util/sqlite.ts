/** sql.js (SQLite compiled to WebAssembly, no native build), initialised once per process. */
import initSqlJs from 'sql.js';

let sqlJs: ReturnType<typeof initSqlJs> | undefined;

export const loadSqlJs = (): ReturnType<typeof initSqlJs> => (sqlJs ??= initSqlJs());

export type SqlDatabase = import('sql.js').Database;
