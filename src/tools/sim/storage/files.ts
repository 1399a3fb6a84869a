/** Whole-file writes that a reader never sees half done: write a temporary file, then rename it over. */
import { rename, writeFile } from 'node:fs/promises';

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
