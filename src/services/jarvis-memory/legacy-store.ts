/** JarvisMemoryAgent's own store (jarvis_memory_store.json) read as canonical records. */
import { isObject } from '../legacy-values.js';
import { openJsonStore } from '../json-store.js';
import type { LegacyRecords, LegacyStoreOptions } from '../records.js';

export const JARVIS_MEMORY_FILE = 'jarvis_memory_store.json';

/** The file: user id -> memories oldest first. */
export type JarvisFile = Record<string, { timestamp: number; memory: unknown }[]>;

/** One record per user: the file's members, read as the agent reads them (numbers keep Python's int / float). */
export function openJarvisStore(path: string, opts: LegacyStoreOptions = {}): Promise<LegacyRecords> {
  return openJsonStore(
    path,
    [[]],
    (key, [memories]) => {
      const list = Array.isArray(memories) ? (memories as JarvisFile[string]) : [];
      return { key, header: [], lists: [list.map((e) => (isObject(e) ? [e.memory ?? null, e.timestamp ?? null] : [null, null]))] };
    },
    opts,
  );
}
