/**
 * The local file that keeps the writes an outbox holds in memory while the state store is away (outbox.heldFile):
 * each is appended and synced before its write is sent, so a process killed meanwhile loses none, and its primary's
 * answer once known; the next start reads them back (`open`), and the file is emptied once the store has taken every
 * held write (`clear`).
 * One process per file: a lock beside it names its pid; a file another live process holds is not used.
 */
import { appendFile, appendFileSync, closeSync, fdatasync, fdatasyncSync, ftruncate, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Config } from '../config.js';
import { GroupCommit } from '../util/group-commit.js';
import { childLogger } from '../telemetry/log.js';
import { processGone } from '../util/process-gone.js';
import type { OutboxIntent } from './table.js';

const log = childLogger('outbox');
const appendAsync = promisify(appendFile);
const syncAsync = promisify(fdatasync);
const truncateAsync = promisify(ftruncate);
/** Lines written and synced at once (writes held meanwhile share one sync). */
const BATCH = 500;

/** outbox.heldFile as set, else beside the embedded store; none (memory only) with store.url and no file set. */
export function heldFileOf(config: Config): { heldFile?: string } {
  const file = config.outbox.heldFile ?? (config.store.url === undefined ? join(dirname(resolve(config.store.dataDir)), 'held-writes.jsonl') : undefined);
  return file === undefined ? {} : { heldFile: file };
}

/** A held write's primary answer as the file keeps it: a start after a kill needs no look-up of it (nor guesses one). */
export interface HeldAnswer {
  primary: 'applied' | 'refused';
  /** When it came (epoch ms). */
  at: number;
}

/** What the file asks of the group commit: a line to append, or to forget every line before it. */
type Op = { line: string } | 'clear';

export class HeldFile {
  private readonly ops = new GroupCommit<Op>((batch) => this.apply(batch), 1, BATCH);

  private constructor(
    private readonly fd: number,
    private readonly lock: string,
  ) {}

  /**
   * The file at `path`, the writes it holds from an earlier process and the primary answers it noted of them; undefined
   * (logged) where it cannot be used.
   */
  static open(path: string): ({ file: HeldFile } & Parsed) | undefined {
    const lock = `${path}.lock`;
    try {
      if (!takeLock(lock)) {
        log.error({ path }, 'outbox.heldFile is in use by another live process: writes held while the state store is away are kept in memory only');
        return undefined;
      }
      const fd = openSync(path, 'a+');
      const text = readFileSync(path, 'utf8');
      // A line cut short by a kill ends here, lest the next one appended be read as its tail.
      if (text && !text.endsWith('\n')) {
        appendFileSync(fd, '\n');
        fdatasyncSync(fd);
      }
      return { file: new HeldFile(fd, lock), ...parse(text, path) };
    } catch (err) {
      log.error({ err, path }, 'outbox.heldFile cannot be used: writes held while the state store is away are kept in memory only');
      return undefined;
    }
  }

  /** Resolves once the intent is on disk. */
  append(i: OutboxIntent): Promise<void> {
    const line = JSON.stringify({ ...i, raw: i.raw.toString('base64'), createdAt: i.createdAt.toISOString() });
    return this.ops.add({ line: `${line}\n` });
  }

  /** Notes a held write's primary answer (`at`, epoch ms). Where the line is lost with a kill, the next start looks the write up. */
  answered(id: string, primary: HeldAnswer['primary'], at: number): Promise<void> {
    return this.ops.add({ line: `${JSON.stringify({ answered: id, primary, at: new Date(at).toISOString() })}\n` });
  }

  /** Forgets every line appended before it (their writes are in the store now). */
  clear(): Promise<void> {
    return this.ops.add('clear');
  }

  /** Closes it and lets its lock go (one removed meanwhile by hand is no error: the shutdown goes on). */
  close(): void {
    closeSync(this.fd);
    rmSync(this.lock, { force: true });
  }

  private async apply(batch: Op[]): Promise<readonly unknown[]> {
    const cleared = batch.lastIndexOf('clear');
    if (cleared >= 0) await truncateAsync(this.fd, 0);
    const text = batch
      .slice(cleared + 1)
      .map((op) => (op === 'clear' ? '' : op.line))
      .join('');
    if (text) await appendAsync(this.fd, text);
    await syncAsync(this.fd);
    return [];
  }
}

/** Takes the lock unless a live process other than this one holds it (after a kill -9 the dead one's is stale). */
function takeLock(lock: string): boolean {
  for (let tries = 0; tries < 2; tries++) {
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    // Empty: its taker was killed before it wrote its pid.
    const holder = Number(readFileSync(lock, 'utf8').trim());
    if (holder > 0 && holder !== process.pid && !processGone(holder)) return false;
    rmSync(lock, { force: true });
  }
  return false;
}

interface Parsed {
  held: OutboxIntent[];
  /** By intent id. */
  answers: Map<string, HeldAnswer>;
}

type AnswerLine = { answered: string; primary: HeldAnswer['primary']; at: string };
type IntentLine = Omit<OutboxIntent, 'raw' | 'createdAt'> & { raw: string; createdAt: string };

/**
 * The intents of a file's lines and the answers noted of them; a last line cut short (the process killed while
 * appending: an intent never acknowledged, or an answer the start then looks up) is left out.
 */
function parse(text: string, path: string): Parsed {
  const parsed: Parsed = { held: [], answers: new Map() };
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const l = JSON.parse(line) as AnswerLine | IntentLine;
      if ('answered' in l) parsed.answers.set(l.answered, { primary: l.primary, at: Date.parse(l.at) });
      else parsed.held.push({ ...l, raw: Buffer.from(l.raw, 'base64'), createdAt: new Date(l.createdAt) });
    } catch {
      log.warn({ path }, 'outbox.heldFile: a line cut short (a write never acknowledged, or an answer: its write is looked up) left out');
    }
  }
  return parsed;
}
