/** `memshift report [--date D] [--out DIR]`: writes a day's reconciliation report (HTML, Markdown, JSON) from the state store. */
import { CONFIG_OPTIONS, defineCommand } from './define.js';
import { loadConfig } from '../config.js';
import { dayWindow, makeReport, ReportStore, utcDate, writeReportFiles } from '../report/index.js';
import { VERDICT_LABEL } from '../report/format.js';
import { withStoreAndFlags } from '../store/open.js';

const usage = `Usage: memshift report [--date YYYY-MM-DD] [--out DIR] [--no-redact] [--config FILE] [--set k=v ...]

Writes the daily reconciliation report of a UTC day (default: today so far) as DIR/DATE.html (charts,
self-contained), DIR/DATE.md and DIR/DATE.json, and keeps it in the state store for /admin/reports.
Per service: stage and flags, shadowed reads, comparisons, mismatch rate, top differing fields with
sample diffs, reconciliation runs, guard events, and a verdict (advance, hold, roll back) with reasons.
  --date D      the UTC day to report (default: today)
  --out DIR     where the files go (default: report.dir, .memshift/reports)
  --no-redact   show memory contents in diffs (hidden by default: they are users' memories)`;

export const command = defineCommand(
  usage,
  {
    date: { type: 'string' },
    out: { type: 'string' },
    'no-redact': { type: 'boolean', default: false },
    ...CONFIG_OPTIONS,
  },
  async ({ values }) => {
    const date = values.date ?? utcDate(new Date());
    if (!dayWindow(date)) throw new Error(`--date must be a day as YYYY-MM-DD, got "${date}"`);
    const config = loadConfig({ path: values.config, set: values.set });
    await withStoreAndFlags(config, async (store, flags) => {
      const report = await makeReport({ date, config, store, flags, ...(values['no-redact'] ? { redact: false } : {}) });
      await new ReportStore(store.pool).save(report);
      const files = await writeReportFiles(report, values.out ?? (config.report.dir || '.memshift/reports'));
      const lines = [`memshift report ${date}:`];
      for (const s of report.data.services) {
        const t = s.totals;
        lines.push(
          `  ${s.service.padEnd(18)} ${s.stage.padEnd(12)} ${VERDICT_LABEL[s.verdict.verdict].padEnd(9)} ` +
            `${s.served.requests} served, ${t.requests} shadowed, ${t.compared} compared, ${t.mismatch} mismatched — ${s.verdict.reasons[0] ?? ''}`,
        );
      }
      lines.push(...files.map((f) => `  wrote ${f}`));
      process.stdout.write(`${lines.join('\n')}\n`);
    });
  },
);
