/** The three services' translators over one orchestrator client and id map, keyed as the simulators name them. */
import { serviceOf } from '../../src/services/registry.js';
import type { IdMap, OrchestratorClient, Translator } from '../../src/services/types.js';
import { SIM_SERVICES, type SimService } from '../../src/tools/sim/services.js';

export const createTranslators = (client: OrchestratorClient, ids: IdMap): Record<SimService, Translator> =>
  Object.fromEntries(SIM_SERVICES.map((s) => [s, serviceOf(s).translator(client, ids)])) as Record<SimService, Translator>;
