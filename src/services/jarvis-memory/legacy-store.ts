/** JarvisMemoryAgent's own store (jarvis_memory_store.json) read as canonical records. */
import { readFile } from 'node:fs/promises';
import { pyLoads } from '../../util/pyjson.js';
import { isObject } from '../legacy-values.js';
import { keyedRecords, type LegacyRecords } from '../records.js';

export const JARVIS_MEMORY_FILE = 'jarvis_memory_store.json';

/** The file: user id -> memories oldest first. */
export type JarvisFile = Record<string, { timestamp: number; memory: unknown }[]>;

export async function openJarvisStore(path: string): Promise<LegacyRecords> {
  // As the agent reads it: numbers keep Python's int / float (3.0 stays a float).
  const data: unknown = pyLoads(await readFile(path));
  if (!isObject(data)) throw new Error(`${path}: not a JSON object`);
  const users = data as JarvisFile;
  return keyedRecords(Object.keys(users), (key) => {
    const list = Array.isArray(users[key]) ? users[key] : [];
    return { key, header: [], lists: [list.map((e) => (isObject(e) ? [e.memory ?? null, e.timestamp ?? null] : [null, null]))] };
  });
}
