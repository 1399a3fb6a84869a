/**
 * /admin/reports (the list) and /admin/reports/DATE.html|md|json, behind the admin token. Today's report
 * is made fresh on each request (the day is still open); a past day's is served from the store, made
 * once if no replica wrote it. POST /admin/reports/DATE remakes one on demand, while its figures are kept (store.retainDays).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { AdminRoutes } from '../admin/auth.js';
import { dayWindow, utcDate } from './data.js';
import { FiguresGone, REPORT_FORMATS, type ReportFormat } from './index.js';
import type { DailyReporter } from './job.js';
import type { StoredReport } from './store.js';

const CONTENT_TYPES: Record<ReportFormat, string> = {
  html: 'text/html; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
  json: 'application/json; charset=utf-8',
};
const FILE = new RegExp(`^(\\d{4}-\\d{2}-\\d{2})\\.(${REPORT_FORMATS.join('|')})$`);

export const reportRoutes =
  (reporter: DailyReporter): AdminRoutes =>
  (admin: FastifyInstance) => {
    admin.get('/reports', async () => ({
      reports: (await reporter.reports.list()).map((r) => ({
        date: r.date,
        generatedAt: r.generatedAt.toISOString(),
        verdicts: r.verdicts,
        links: Object.fromEntries(REPORT_FORMATS.map((f) => [f, `/admin/reports/${r.date}.${f}`])),
      })),
    }));

    admin.get<{ Params: { file: string } }>('/reports/:file', async (req, reply) => {
      const m = FILE.exec(req.params.file);
      if (!m || !servable(m[1]!, reporter.now())) return notFound(reply, req.params.file);
      const date = m[1]!;
      let report: Pick<StoredReport, 'html' | 'markdown' | 'json'>;
      try {
        report = (date !== utcDate(reporter.now()) && (await reporter.reports.get(date))) || (await reporter.write(date));
      } catch (err) {
        if (err instanceof FiguresGone)
          return reply.code(404).send({ status: 'error', message: `memshift: no report of ${date} is stored, and ${err.message}` });
        throw err;
      }
      const format = m[2] as ReportFormat;
      return reply.type(CONTENT_TYPES[format]).send(format === 'html' ? report.html : format === 'md' ? report.markdown : report.json);
    });

    admin.post<{ Params: { file: string } }>('/reports/:file', async (req, reply) => {
      const date = req.params.file;
      if (!servable(date, reporter.now())) return notFound(reply, date);
      const r = await reporter.write(date).catch((err: unknown) => {
        if (err instanceof FiguresGone) return err;
        throw err;
      });
      if (r instanceof FiguresGone)
        return reply.code(409).send({ status: 'error', message: `memshift: ${r.message}: its report cannot be made again (GET serves the one stored)` });
      return { status: 'ok', date, generatedAt: r.data.generatedAt, verdicts: Object.fromEntries(r.data.services.map((s) => [s.service, s.verdict.verdict])) };
    });
  };

/** A real UTC day that has begun by the reporter's clock. */
const servable = (date: string, now: Date) => {
  const day = dayWindow(date);
  return day !== undefined && day.from.getTime() <= now.getTime();
};

const notFound = (reply: FastifyReply, what: string) =>
  reply.code(404).send({ status: 'error', message: `memshift: no report "${what}" (expected YYYY-MM-DD.${REPORT_FORMATS.join('|')})` });
