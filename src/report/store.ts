/** Reports kept in the state store (table reports): one per UTC day, shared by every replica. */
import type pg from 'pg';
import type { Verdict } from './verdict.js';
import type { Report } from './data.js';

export interface StoredReport {
  date: string;
  generatedAt: Date;
  html: string;
  markdown: string;
  json: string;
}

export interface ReportListing {
  date: string;
  generatedAt: Date;
  verdicts: Record<string, Verdict>;
}

export class ReportStore {
  constructor(private readonly pool: pg.Pool) {}

  async save(r: Report): Promise<void> {
    await this.pool.query(
      `INSERT INTO reports (date, generated_at, html, markdown, json) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (date) DO UPDATE SET generated_at = excluded.generated_at, html = excluded.html,
         markdown = excluded.markdown, json = excluded.json`,
      [r.date, r.data.generatedAt, r.html, r.markdown, r.json],
    );
  }

  async get(date: string): Promise<StoredReport | undefined> {
    const { rows } = await this.pool.query<{ date: string; generated_at: Date; html: string; markdown: string; json: unknown }>(
      `SELECT to_char(date, 'YYYY-MM-DD') AS date, generated_at, html, markdown, json FROM reports WHERE date = $1`,
      [date],
    );
    const r = rows[0];
    return r && { date: r.date, generatedAt: r.generated_at, html: r.html, markdown: r.markdown, json: `${JSON.stringify(r.json, null, 2)}\n` };
  }

  /** Newest first, with each service's verdict. */
  async list(limit = 90): Promise<ReportListing[]> {
    const { rows } = await this.pool.query<{ date: string; generated_at: Date; verdicts: Record<string, Verdict> | null }>(
      `SELECT to_char(date, 'YYYY-MM-DD') AS date, generated_at,
         (SELECT jsonb_object_agg(s ->> 'service', s -> 'verdict' ->> 'verdict') FROM jsonb_array_elements(json -> 'services') s) AS verdicts
       FROM reports ORDER BY date DESC LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({ date: r.date, generatedAt: r.generated_at, verdicts: r.verdicts ?? {} }));
  }
}
