/** The legacy side of a reconciliation: a service's own store, read by its module, as a LegacyIndex in key order. */
import { join } from 'node:path';
import { serviceOf, type ServiceName } from '../services/registry.js';
import { LegacyIndex } from './legacy-index.js';
import { recordDigest } from './canonical.js';
import { digestForm, type LegacyStoreOptions } from '../services/records.js';

export const legacyPath = (service: ServiceName, dataDir: string): string => join(dataDir, serviceOf(service).legacyStore.file);

export async function openLegacySource(service: ServiceName, path: string, opts: LegacyStoreOptions = {}): Promise<LegacyIndex> {
  const store = await serviceOf(service).legacyStore.open(path, opts);
  try {
    const shape = serviceOf(service).record;
    return await LegacyIndex.build(store.all(), (range, limit) => store.between(range, limit), {
      onClose: () => store.close?.(),
      digest: (r) => recordDigest(digestForm(shape, r)),
    });
  } catch (err) {
    store.close?.();
    throw err;
  }
}
