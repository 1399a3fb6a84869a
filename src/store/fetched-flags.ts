/** The flags a replica last fetched from Unleash, a row per client app name, for a replica that starts while Unleash is out of reach. */
import type pg from 'pg';

export class FetchedFlags {
  constructor(private readonly pool: pg.Pool) {}

  /** unleash-client's response as it was stored, or undefined. */
  async read(app: string): Promise<unknown> {
    const { rows } = await this.pool.query<{ response: unknown }>('SELECT response FROM flags_fetched WHERE app = $1', [app]);
    return rows[0]?.response;
  }

  async write(app: string, response: unknown): Promise<void> {
    await this.pool.query(
      `INSERT INTO flags_fetched (app, response) VALUES ($1, $2)
       ON CONFLICT (app) DO UPDATE SET response = EXCLUDED.response, fetched_at = now()`,
      [app, JSON.stringify(response)],
    );
  }
}
