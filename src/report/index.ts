/** A daily report: gathered once, rendered as HTML, Markdown and JSON, kept in the store and as files. */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dayWindow, gatherReport, type GatherOptions, type Report } from './data.js';
import { keptFrom } from '../store/retention.js';

export type { Report };
import { renderHtml } from './html.js';
import { renderMarkdown } from './markdown.js';

export { dayWindow, utcDate, type ReportData } from './data.js';
export { ReportStore } from './store.js';

export const REPORT_FORMATS = ['html', 'md', 'json'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** A day whose figures the store no longer keeps (store.retainDays): its report cannot be made again. */
export class FiguresGone extends Error {
  constructor(date: string, days: number) {
    super(`the figures of ${date} are no longer kept (store.retainDays: ${days})`);
    this.name = 'FiguresGone';
  }
}

export async function makeReport(opts: GatherOptions): Promise<Report> {
  const days = opts.config.store.retainDays;
  const day = dayWindow(opts.date);
  if (day && day.from < keptFrom(opts.now ?? new Date(), days)) throw new FiguresGone(opts.date, days);
  const data = await gatherReport(opts);
  return { date: data.date, data, html: renderHtml(data), markdown: renderMarkdown(data), json: `${JSON.stringify(data, null, 2)}\n` };
}

/** Writes DIR/DATE.html, .md and .json (each by rename, so a reader never sees half a file); returns their paths. */
export async function writeReportFiles(report: Pick<Report, 'date' | 'html' | 'markdown' | 'json'>, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: [ReportFormat, string][] = [
    ['html', report.html],
    ['md', report.markdown],
    ['json', report.json],
  ];
  return Promise.all(
    files.map(async ([ext, text]) => {
      const path = join(dir, `${report.date}.${ext}`);
      const tmp = `${path}.${process.pid}.tmp`;
      await writeFile(tmp, text);
      await rename(tmp, path);
      return path;
    }),
  );
}
