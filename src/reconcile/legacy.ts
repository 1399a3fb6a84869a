/** The legacy side of a reconciliation: a service's own store, read by its module, as a LegacyIndex in key order. */
import { join } from 'node:path';
import { serviceOf, type ServiceName } from '../services/registry.js';
import { LegacyIndex } from './source.js';
import { recordDigest } from './canonical.js';
import { digestForm } from '../services/records.js';

export const legacyPath = (service: ServiceName, dataDir: string): string => join(dataDir, serviceOf(service).legacyStore.file);

export async function openLegacySource(service: ServiceName, path: string): Promise<LegacyIndex> {
  const store = await serviceOf(service).legacyStore.open(path);
  try {
    const shape = serviceOf(service).record;
    const index: LegacyIndex = await LegacyIndex.build(
      store.all(),
      (i, j) => store.between(index.keys[i]!, index.keys[j - 1]!),
      () => store.close?.(),
      (r) => recordDigest(digestForm(shape, r)),
    );
    return index;
  } catch (err) {
    store.close?.();
    throw err;
  }
}
