/** Contracts between the translators, the orchestrator client and the id map. */
import { LegError } from '../legs/types.js';

/** A service's name as config, flags and metrics spell it (e.g. "session-memory"); src/services/registry.ts lists them. */
export type ServiceName = string;

/** A legacy request as agents send it: a flat object with `action` at the top level. */
export type LegacyRequest = Record<string, unknown> & { action: string };

/** Orchestrator error codes (PROTOCOLS.md section 2). */
export type OrchestratorErrorCode =
  | 'invalid_request'
  | 'memory_not_found'
  | 'session_not_found'
  | 'permission_denied'
  | 'storage_error'
  | 'search_error'
  | 'validation_error'
  | 'rate_limit_exceeded'
  | 'internal_error'
  | 'database_error';

export class OrchestratorError extends Error {
  constructor(
    readonly code: OrchestratorErrorCode | string,
    message: string,
  ) {
    super(message);
    this.name = 'OrchestratorError';
  }
}

/**
 * A write the orchestrator cannot store (services/storable.ts): the legacy side keeps it; on the new side it is
 * counted and parked with its reason, never retried (it would fail the same way) and never blocking its key.
 */
export class Untranslatable extends Error {
  constructor(
    readonly reason: 'unstorable_text' | 'unstorable_number' | 'too_long',
    message: string,
  ) {
    super(`untranslatable: ${message}`);
    this.name = 'Untranslatable';
  }
}

export interface OrchestratorClient {
  /** One orchestrator action; resolves with the reply's `data`, rejects with OrchestratorError or LegError. */
  call(action: string, sessionId: string | undefined, payload?: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/** Keeps a key held past the work's end, until `until` settles (a call that may still land). */
export type Keep = (until: Promise<unknown>) => void;

/**
 * Work on one legacy key that no other replica does at the same time: a read-modify-write of a value the
 * orchestrator keeps, which it offers no compare-and-set for, or a write whose order both sides must share.
 */
export interface KeyLocks {
  /** Rejects with KeyBusy, without running `work`, when another replica holds the key past the wait. */
  hold<T>(service: ServiceName, key: string, work: (keep: Keep) => Promise<T>): Promise<T>;
}

/** Another replica held the key for longer than the wait: nothing of the work was done. */
export class KeyBusy extends Error {
  constructor(service: ServiceName, key: string, waitMs: number) {
    super(`${service} key ${JSON.stringify(key)} is held by another replica (waited ${waitMs} ms)`);
    this.name = 'KeyBusy';
  }
}

/** A key held elsewhere past the wait, as the agent hears of it: a call not sent for want of room (refused, not unknown). */
export const busyAsUnsent = (err: unknown): unknown => (err instanceof KeyBusy ? new LegError('saturated', err.message, 'state store key lock') : err);

/** Legacy key (session id, user id) <-> orchestrator session id, per service. */
export interface IdMap {
  get(service: ServiceName, legacyKey: string): Promise<string | undefined>;
  /** Keeps an existing mapping (the first written wins, across replicas); resolves with the mapping in force. */
  set(service: ServiceName, legacyKey: string, orchestratorSessionId: string): Promise<string>;
  delete(service: ServiceName, legacyKey: string): Promise<void>;
}

export interface TranslateContext {
  /**
   * True when the legacy side already accepted this write (memshift writes new second): a session the
   * orchestrator has not seen is then created on this first write. False when new is primary: the
   * translator answers as the legacy service would for an unknown session.
   */
  createMissing: boolean;
  /**
   * The write's id (the outbox row's): what the write creates carries it as a tag (writeTag), so that when
   * its outcome is unknown a look-up finds out whether it was applied.
   */
  writeId?: string;
  /**
   * The record's time on the legacy side, which the orchestrator record carries in the legacy format: when the
   * primary took a live write (memshift's clock), or now when the new side is the primary.
   */
  at?: Date;
  /** The legacy record's own time, kept exactly instead of one made from `at` (backfill and repair copy it). */
  stamp?: unknown;
}

/**
 * What a look-up of one write on the orchestrator found: applied; absent (sending it again is safe); or
 * idempotent (sending it again leaves the state it would have left, e.g. a clear).
 */
export type WriteLookup = 'applied' | 'absent' | 'idempotent';

export interface Translator {
  readonly service: ServiceName;
  /** Carries one legacy request out on the orchestrator and returns the reply the legacy service would have given. */
  handle(request: LegacyRequest, ctx: TranslateContext): Promise<unknown>;
  /**
   * Whether the write handled with `writeId` is on the orchestrator. Only conclusive when asked on the
   * connection that carried the write, or after every earlier request of another connection was worked off.
   */
  lookup(request: LegacyRequest, writeId: string): Promise<WriteLookup>;
  /**
   * Sets a key's header where the legacy protocol has no request for it (contextual-memory's stored snapshot),
   * for backfill and repair; absent where the header is written by requests. `listsKept`: the key's elements stay as
   * they are (a repair of the header alone), so what the header holds of them (contextual's decisions) stays too.
   */
  restore?(key: string, header: unknown[], listsKept?: boolean): Promise<void>;
  /**
   * Removes the newest `count` elements of a key's list i where the legacy protocol has none that does (contextual's
   * interactions), for a repair that keeps the history before them; absent where clearing the key loses none.
   */
  dropNewest?(key: string, list: number, count: number): Promise<void>;
}
