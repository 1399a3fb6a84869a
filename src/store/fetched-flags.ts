/** The flags a replica last fetched from Unleash, a row per client app name, for a replica that starts while Unleash is out of reach. */
import type pg from 'pg';

export class FetchedFlags {
  constructor(private readonly pool: pg.Pool) {}

  /** unleash-client's response as it was stored, or undefined. */
  async read(app: string): Promise<unknown> {
    const { rows } = await this.pool.query<{ response: unknown }>('SELECT response FROM flags_fetched WHERE app = $1', [app]);
    return rows[0]?.response;
  }

  /**
   * Keeps `response` unless one fetched later is stored already: a write given up at the statement bound may still be
   * applied by the store after a newer one (this replica's or another's), and must not put older flags back.
   */
  async write(app: string, response: unknown, fetchedAt: Date): Promise<void> {
    await this.pool.query(
      `INSERT INTO flags_fetched AS f (app, response, fetched_at) VALUES ($1, $2, $3)
       ON CONFLICT (app) DO UPDATE SET response = EXCLUDED.response, fetched_at = EXCLUDED.fetched_at
       WHERE f.fetched_at <= EXCLUDED.fetched_at`,
      [app, JSON.stringify(response), fetchedAt],
    );
  }
}
