/**
 * An unleash-client repository that serves flag definitions from a local file and reloads it when it
 * changes: the offline mode, with no network at all. unleash-client still does every evaluation.
 */
import { watch, watchFile, unwatchFile, type FSWatcher, type Stats } from 'node:fs';
import { basename, dirname } from 'node:path';
import { childLogger } from '../telemetry/log.js';
import { readFlagDefinitions } from './definitions.js';
import { DefinitionsRepository } from './definitions-repository.js';

const log = childLogger('flags');

/** Editors emit bursts of events per save; one reload per burst. */
const DEBOUNCE_MS = 25;

export class FileFlagRepository extends DefinitionsRepository {
  /** Text of the last file read, good or bad, so an unchanged file is neither re-parsed nor re-logged. */
  private lastText: string | undefined;
  private reloading: Promise<void> = Promise.resolve();
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    readonly file: string,
    /** stat poll interval; the fallback where fs.watch misses events (network mounts, some containers). */
    private readonly pollMs = 1000,
  ) {
    super();
  }

  override async start(): Promise<void> {
    await this.reload();
    this.watchFile();
    // An unreadable file still means "ready, every flag off", which is the legacy-only stage.
    await super.start();
  }

  override stop(): void {
    this.stopped = true;
    this.watcher?.close();
    unwatchFile(this.file, this.onPoll);
    clearTimeout(this.debounce);
  }

  /** Re-reads the file; serialized so a slow read never overwrites a newer one. */
  private reload(): Promise<void> {
    this.reloading = this.reloading.then(() => this.load());
    return this.reloading;
  }

  private async load(): Promise<void> {
    if (this.stopped) return;
    const read = await readFlagDefinitions(this.file);
    if (read.text !== undefined && read.text === this.lastText) return;
    this.lastText = read.text;
    if (!read.ok) {
      const keeping = this.size > 0 ? 'keeping the last good flags' : 'every flag off until it is fixed';
      log.error({ file: this.file, error: read.error }, `invalid flags file, ${keeping}`);
      return;
    }
    log.info({ file: this.file, flags: read.doc.features.length }, 'flags loaded');
    this.replace(read.doc.features, read.doc.segments);
  }

  private watchFile(): void {
    try {
      // The directory, not the file: editors that save by rename replace the file's inode.
      this.watcher = watch(dirname(this.file), { persistent: false }, (_event, name) => {
        if (!name || name === basename(this.file)) this.schedule();
      });
      this.watcher.on('error', (err) => log.warn({ err }, 'flags file watch failed, polling only'));
    } catch (err) {
      log.warn({ err, file: this.file }, 'cannot watch flags file, polling only');
    }
    watchFile(this.file, { persistent: false, interval: this.pollMs }, this.onPoll);
  }

  private readonly onPoll = (curr: Stats, prev: Stats): void => {
    // watchFile also fires on access; only content changes matter.
    if (curr.mtimeMs !== prev.mtimeMs || curr.size !== prev.size || curr.ino !== prev.ino) this.schedule();
  };

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.reload(), DEBOUNCE_MS);
    this.debounce.unref();
  }
}
