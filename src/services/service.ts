/**
 * What a legacy service module provides: its protocol (actions, keys, error reply, write-success rule,
 * comparison rules), its record as both stores hold it (legacy reader, orchestrator view, repair writes,
 * look-ups of unknown outcomes) and its translator. The registry lists the modules; nothing else names them.
 */
import type { LegacyRecords, LegacyStoreOptions, RecordShape, CanonicalRecord } from './records.js';
import type { IdMap, KeyLocks, LegacyRequest, OrchestratorClient, Translator } from './types.js';

export type ActionKind = 'read' | 'write' | 'health';

/** Rules for comparing one read action's two replies (src/comparison/rules.ts gives them meaning and defaults). */
export interface CompareRulesInput {
  /** Paths left out of the comparison, e.g. `context[].timestamp`. */
  ignore?: string[];
  /** Lists compared as sets: path -> key path inside an element ("" = the element itself). */
  sets?: Record<string, string>;
  /** Numeric slack per path. */
  tolerance?: Record<string, number>;
  trimStrings?: boolean;
  /** Seconds within which times count as equal (default: config shadow.timeToleranceS). */
  timeToleranceS?: number;
  maxDiffs?: number;
}

export interface ActionSpec {
  kind: ActionKind;
  /** Request field naming the record the action touches; used for stickiness, ordering, reconciliation. */
  key?: 'session_id' | 'user_id';
  /** Value the legacy service assumes when the key field is absent. */
  keyDefault?: string;
  /** Reads: how its two replies are compared by default (config can override per route). */
  compare?: CompareRulesInput;
  /**
   * A read that changes the service's state (contextual get_context cuts its stored snapshot): it reaches the
   * other side in order with the key's writes, as a write does, and its shadow comparison is made when it lands.
   */
  mutates?: boolean;
  /**
   * A write that adds an element to its key's record. Its copy on the orchestrator carries the write's tag
   * (writeTag), by which a rewrite of the key sees it landed there (the orchestrator writes its tables behind its
   * replies), whether or not legacy's replies show the element (its lookup effect).
   */
  addsElement?: boolean;
}

/** A reply counts as success when any rule matches; `path` "" is the reply itself (bare values). */
export interface SuccessRule {
  path: string;
  equals?: string | number | boolean | null;
  /** Regular expression tested against the value at `path` as a string. */
  matches?: string;
}

/**
 * The service's records as SQL over the orchestrator's tables (sessions `s`, memories `m`): the reconciler
 * reads and digests them there, so only differing ranges leave the database.
 */
export interface OrchestratorView {
  /** The legacy key of a session row `s`. */
  key: string;
  /** Which sessions carry this service's keys (translators write different session metadata). */
  sessions: string;
  /** [key, ...header] as jsonb, of a session row `s`. */
  header: string;
  /** The same as digests see it (RecordShape.digestHeader); default `header`. */
  digestHeader?: string;
  /**
   * Per list of the record shape: which memories `m` belong to it, the element tuple (jsonb array) and, for a
   * timed list, the element's legacy time (jsonb), appended to the tuple.
   */
  lists: { where: string; element: string; time?: string }[];
}

/** The legacy requests that build a record (reconcile --repair and the backfill send them through the write path). */
export interface RecordOps {
  /** Requests making the key itself (before its elements). */
  create?(r: CanonicalRecord): LegacyRequest[];
  append(key: string, list: number, element: unknown[]): LegacyRequest;
  /** Empties the key's lists, keeping the key. */
  clear?(key: string): LegacyRequest;
  /** Removes the key altogether. */
  remove?(key: string): LegacyRequest;
}

/**
 * What a write is to a look-up on the legacy service: it adds one record (spelt as `records` spells them);
 * it clears the key (records before it are gone); or it adds no record (a session made, a read).
 */
export type WriteEffect = { adds: string } | { clears: true } | { neutral: true };

/** Finding a write again through the service's own read actions (the legacy services take no write ids). */
export interface LegacyLookup {
  effect(request: LegacyRequest): WriteEffect;
  /** The read that shows the records the write adds, or undefined when the service has none (it cannot be found). */
  read(request: LegacyRequest): LegacyRequest | undefined;
  /** The key's records from the read's reply, oldest first; undefined when the reply says nothing usable. */
  records(reply: unknown): string[] | undefined;
  /** Each of those records' own time as the service keeps it, when its read shows one. */
  stamps?(reply: unknown): unknown[] | undefined;
}

/** What a translator takes beyond its orchestrator and id map. */
export interface TranslatorDeps {
  /** The store's, shared by the replicas (a translator that reads, changes and writes back a value takes them). */
  locks?: KeyLocks;
  /** The legacy host's time zone (IANA), in which the times memshift stamps for it are local (config `timeZone`). */
  timeZone?: string;
}

export interface LegacyService {
  name: string;
  /** The name the voice assistant's code uses for it. */
  legacyName: string;
  legacyPort: number;
  /** The Unleash context field that read cutover is sticky on. */
  stickyOn: 'sessionId' | 'userId';
  /** The orchestrator memory_type its records become. */
  memoryType: string;
  /** Its agent stamps local times (zone-less): memshift must stamp them in the agent's host's zone (config `timeZone`). */
  localTimes?: boolean;
  actions: Record<string, ActionSpec>;
  /** Default rules telling whether a write reply means the write happened (config can override). */
  writeSuccess: SuccessRule[];
  /** The service's error reply for a message, as the service itself would shape it. */
  errorReply(message: string, requestId?: unknown): unknown;
  /**
   * What the service's deployed loop makes of a handler's reply, where that differs from the handler's own
   * (config `services.<name>.replies: as-deployed`); replies rebuilt from the orchestrator then get it too.
   */
  deployedReply?(reply: unknown): unknown;
  record: RecordShape;
  /** The service's own store: its file name in the legacy data directory, and its reader. */
  legacyStore: { file: string; open(path: string, opts?: LegacyStoreOptions): Promise<LegacyRecords> };
  orchestratorView: OrchestratorView;
  repair: RecordOps;
  lookup: LegacyLookup;
  translator(client: OrchestratorClient, ids: IdMap, deps?: TranslatorDeps): Translator;
}
