/**
 * Flag definitions in Unleash's client-features format ({"version": 2, "features": [...]}): where the
 * file lives, parsing with validation, and the on/rollout state a definition describes.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { ClientFeaturesResponse } from 'unleash-client';
import { z } from 'zod';
import type { FlagState } from './stage.js';

export type FeatureDefinition = ClientFeaturesResponse['features'][number];
export type SegmentDefinition = NonNullable<ClientFeaturesResponse['segments']>[number];

export const DEFAULT_FLAGS_FILE = fileURLToPath(new URL('../../flags/memshift.json', import.meta.url));

/** An explicit path wins, then MEMSHIFT_FLAGS_FILE, then flags/memshift.json at the repo root. */
export const resolveFlagsFile = (file: string | undefined, env: NodeJS.ProcessEnv = process.env): string =>
  file ?? env.MEMSHIFT_FLAGS_FILE ?? DEFAULT_FLAGS_FILE;

const validRollout = (v: unknown): boolean => {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 && n <= 100;
};

const constraintSchema = z.looseObject({ contextName: z.string().min(1), operator: z.string().min(1) });

const strategySchema = z
  .looseObject({
    name: z.string().min(1),
    parameters: z.record(z.string(), z.unknown()).optional(),
    constraints: z.array(constraintSchema).optional(),
    segments: z.array(z.number().int()).optional(),
  })
  // A typo in a rollout would otherwise evaluate as NaN, i.e. silently 0%.
  .refine((s) => s.name !== 'flexibleRollout' || validRollout(s.parameters?.rollout), {
    message: 'flexibleRollout needs parameters.rollout between 0 and 100',
    path: ['parameters', 'rollout'],
  });

const featureSchema = z.looseObject({
  name: z.string().min(1),
  enabled: z.boolean(),
  description: z.string().optional(),
  strategies: z.array(strategySchema),
});

const docSchema = z
  .looseObject({
    version: z.number().int(),
    features: z.array(featureSchema),
    segments: z.array(z.looseObject({ id: z.number().int(), constraints: z.array(constraintSchema) })).optional(),
  })
  .refine((d) => new Set(d.features.map((f) => f.name)).size === d.features.length, {
    message: 'feature names must be unique',
    path: ['features'],
  });

export type ParseResult = { ok: true; doc: ClientFeaturesResponse } | { ok: false; error: string };

export function parseFlagDefinitions(text: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `not JSON: ${(err as Error).message}` };
  }
  const result = docSchema.safeParse(raw);
  if (!result.success) {
    return { ok: false, error: result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') };
  }
  // Validated above; the loose objects keep every other field Unleash defines.
  return { ok: true, doc: result.data as unknown as ClientFeaturesResponse };
}

export async function readFlagDefinitions(path: string): Promise<ParseResult & { text?: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return { ok: false, error: `cannot read ${path}: ${(err as Error).message}` };
  }
  return { ...parseFlagDefinitions(text), text };
}

/** What a definition says, before any per-request evaluation; a missing flag is off. */
export function definitionState(feature: FeatureDefinition | undefined): FlagState {
  if (!feature) return { enabled: false };
  const rollout = feature.strategies?.find((s) => s.name === 'flexibleRollout');
  return rollout ? { enabled: feature.enabled, rollout: Number(rollout.parameters?.rollout) } : { enabled: feature.enabled };
}

/**
 * Whether unleash-client answers true for the toggle whatever the request: on, depending on no other toggle,
 * no impression events, and one strategy that takes everyone (`default`, or a 100% flexibleRollout sticky on
 * nothing of the request but a draw). A rollout sticky on sessionId is false without one, so it never is.
 */
export function onForEveryone(feature: FeatureDefinition | undefined): boolean {
  if (!feature?.enabled || feature.impressionData || feature.dependencies?.length || !Array.isArray(feature.strategies)) return false;
  if (feature.strategies.length === 0) return true;
  return feature.strategies.some((s) => {
    if (s.constraints?.length || s.segments?.length) return false;
    if (s.name === 'default') return true;
    const stickiness = s.parameters?.stickiness || 'default';
    return s.name === 'flexibleRollout' && Number(s.parameters?.rollout) >= 100 && (stickiness === 'default' || stickiness === 'random');
  });
}
