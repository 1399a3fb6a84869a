/** `memshift outbox list|retry|purge`: what the durable secondary-write queue holds, and what to do with parked writes. */
import { parseArgs } from 'node:util';
import type { Command } from './define.js';
import { loadConfig } from '../config.js';
import { OUTBOX_STATUSES, OutboxTable, type OutboxRow, type OutboxStatus } from '../outbox/table.js';
import { withStore } from '../store/open.js';
import { CONFIG_OPTIONS } from './define.js';

const usage = `Usage: memshift outbox <list|retry|purge> [options]

  list    writes waiting or parked (default: dead and pending), oldest key first
            --status S[,S]   any of ${OUTBOX_STATUSES.join(', ')}, or all
            --service S      one service      --key K   one key (session / user)
            --limit N        rows shown (default 50)    --json    one JSON object per line
  retry   parked (dead) writes back to pending, due now
            --id ID          one write (repeatable); without it every dead write
            --service S      only this service
  purge   delete finished writes
            --older-than D   last touched before D ago: 90s, 30m, 24h, 7d (default 24h)
            --status S[,S]   done and/or dead (default done,dead)
Common:   --config FILE, --set key.path=value (e.g. --set store.url=postgres://...)`;

export const command: Command = {
  usage,
  async run(argv) {
    const [verb, ...rest] = argv;
    const { values } = parseArgs({
      args: rest,
      options: {
        ...CONFIG_OPTIONS,
        status: { type: 'string' },
        service: { type: 'string' },
        key: { type: 'string' },
        limit: { type: 'string', default: '50' },
        json: { type: 'boolean', default: false },
        id: { type: 'string', multiple: true },
        'older-than': { type: 'string', default: '24h' },
      },
    });
    if (verb !== 'list' && verb !== 'retry' && verb !== 'purge') {
      process.stderr.write(`${usage}\n`);
      return 2;
    }
    const config = loadConfig({ path: values.config, set: values.set });
    await withStore(config, async (store) => {
      const table = new OutboxTable(store.pool);
      if (verb === 'list') {
        const rows = await table.list({
          statuses: statuses(values.status, ['dead', 'pending'], OUTBOX_STATUSES),
          ...(values.service ? { service: values.service } : {}),
          ...(values.key ? { key: values.key } : {}),
          limit: positive(values.limit, '--limit'),
        });
        process.stdout.write(values.json ? rows.map((r) => `${JSON.stringify(jsonOf(r))}\n`).join('') : table_(rows));
      } else if (verb === 'retry') {
        const n = await table.retry({ ...(values.id ? { ids: values.id } : {}), ...(values.service ? { service: values.service } : {}) });
        process.stdout.write(`${n} parked write${n === 1 ? '' : 's'} back to pending\n`);
      } else {
        const { deleted: n } = await table.purge({
          statuses: statuses(values.status, ['done', 'dead'], ['done', 'dead']),
          olderThanMs: durationMs(values['older-than']),
        });
        process.stdout.write(`${n} finished write${n === 1 ? '' : 's'} deleted\n`);
      }
    });
  },
};

function statuses<T extends OutboxStatus>(text: string | undefined, fallback: T[], allowed: readonly T[]): T[] {
  if (!text) return fallback;
  if (text === 'all') return [...allowed];
  const list = text.split(',').map((s) => s.trim());
  const bad = list.filter((s) => !(allowed as readonly string[]).includes(s));
  if (bad.length) throw new Error(`--status: unknown ${bad.join(', ')} (one of ${allowed.join(', ')})`);
  return list as T[];
}

function positive(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${what}: "${text}" is not a positive integer`);
  return n;
}

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "30m", "24h", "7d", "500ms" or a bare number of ms. */
export function durationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new Error(`--older-than: "${text}" is not a duration like 30m, 24h or 7d`);
  return Number(m[1]) * UNITS[m[2] ?? 'ms']!;
}

const jsonOf = (r: OutboxRow) => ({
  id: r.id,
  service: r.service,
  key: r.key,
  seq: r.seq,
  action: r.action,
  side: r.side,
  status: r.status,
  attempts: r.attempts,
  created_at: r.createdAt.toISOString(),
  next_attempt_at: r.nextAttemptAt.toISOString(),
  last_error: r.lastError,
  request: r.raw.toString('utf8'),
});

function table_(rows: OutboxRow[]): string {
  if (!rows.length) return 'no writes\n';
  const now = Date.now();
  const cells = [
    ['id', 'service', 'key', 'seq', 'action', 'to', 'status', 'tries', 'age', 'last error'],
    ...rows.map((r) => [
      r.id,
      r.service,
      r.key,
      String(r.seq),
      r.action,
      r.side,
      r.status,
      String(r.attempts),
      age(now - r.createdAt.getTime()),
      (r.lastError ?? '').slice(0, 80),
    ]),
  ];
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  return (
    cells
      .map((c) =>
        c
          .map((v, i) => v.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : s < 172_800 ? `${Math.round(s / 3600)}h` : `${Math.round(s / 86_400)}d`;
}
