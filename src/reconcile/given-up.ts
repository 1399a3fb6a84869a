/**
 * The file a give-up keeps what it takes from a side in (`reconcile --repair --give-up-missed FILE`): one JSON line a
 * key, written and synced before the key is rewritten, with the legacy requests that would write it again.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { serviceOf, type ServiceName } from '../services/registry.js';
import { namedView } from '../services/records.js';
import type { Side } from '../plan/plan.js';
import { pyDumps } from '../util/pyjson.js';
import type { GivenUpPart } from './newer.js';

/** Where a repair's give-up keeps what it takes from a key, before it takes it. */
export interface GivenUp {
  keep(key: string, part: GivenUpPart): Promise<void>;
}

export class GivenUpFile implements GivenUp {
  /** Keys kept so far with their elements' text (and `header`), so that a key done again (its hold lost) is not kept twice. */
  private readonly kept = new Map<string, Set<string>>();
  private last: Promise<void> = Promise.resolve();
  /** Elements kept, over every key. */
  elements = 0;

  private constructor(
    readonly path: string,
    private readonly file: FileHandle,
    private readonly service: ServiceName,
    readonly side: Side,
  ) {}

  /** Opened to append: a run asked again after one that died midway adds to what that one kept. */
  static async open(path: string, service: ServiceName, side: Side): Promise<GivenUpFile> {
    return new GivenUpFile(path, await open(path, 'a', 0o600), service, side);
  }

  keep(key: string, part: GivenUpPart): Promise<void> {
    const done = this.kept.get(key) ?? new Set<string>();
    const fresh: string[] = [];
    const lists = part.record.lists.map((list, i) =>
      list.filter((e) => {
        const text = pyDumps([i, e]);
        if (done.has(text)) return false;
        fresh.push(text);
        return true;
      }),
    );
    const header = part.header && !done.has('header');
    if (!header && !fresh.length) return this.last;
    this.kept.set(key, done);
    for (const text of [...fresh, ...(header ? ['header'] : [])]) done.add(text);
    this.elements += fresh.length;
    const line = pyDumps(this.lineOf(key, { record: { ...part.record, lists }, header })) + '\n';
    this.last = this.last.then(() => this.append(line));
    return this.last;
  }

  /** Keys something was kept of. */
  get keys(): number {
    return this.kept.size;
  }

  async close(): Promise<void> {
    await this.last.catch(() => undefined);
    await this.file.close();
  }

  private async append(line: string): Promise<void> {
    await this.file.write(line);
    // Synced before the key is rewritten, so a crash cannot take a write from both; /dev/null cannot be synced.
    await this.file.datasync().catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EINVAL') throw err;
    });
  }

  /** The key's line: what goes, named as the service's records name it, and the legacy requests that would write it. */
  private lineOf(key: string, { record, header }: GivenUpPart): Record<string, unknown> {
    const { record: shape, repair } = serviceOf(this.service);
    const named = namedView(shape, record);
    const given: Record<string, unknown> = {};
    if (header) for (const f of shape.header) given[f] = named[f];
    shape.lists.forEach(({ name }, i) => record.lists[i]?.length && (given[name] = named[name]));
    const requests = [...(header ? (repair.create?.(record) ?? []) : []), ...record.lists.flatMap((list, i) => list.map((e) => repair.append(key, i, e)))];
    return { at: new Date().toISOString(), service: this.service, side: this.side, key, given_up: given, requests };
  }
}
