/**
 * A TCP relay in front of a server (the state store), which can be cut (connections dropped, new ones
 * refused: a store that is down) or frozen (connections kept open, nothing forwarded either way, new ones
 * accepted and left waiting: a stopped or partitioned store, which answers nothing and refuses nothing), or strand
 * its open connections (nothing forwarded on them ever again, none closed, new ones served: a store lost with its
 * host and another in its place, as after a failover).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';

interface Pair {
  client: Socket;
  upstream?: Socket;
  /** Piped both ways now: piped again (a thaw of a pair never frozen) every byte would go twice. */
  piped?: boolean;
}

export class Relay {
  private readonly pairs = new Set<Pair>();
  private cutOff = false;
  private frozen = false;
  private readonly stranded = new Set<Pair>();
  private constructor(
    private readonly server: Server,
    private readonly target: { host: string; port: number },
  ) {}

  /** A relay in front of the server of a URL (a PostgreSQL one), and that URL through the relay. */
  static async before(url: string): Promise<{ relay: Relay; url: string }> {
    const at = new URL(url);
    const relay = await Relay.start({ host: at.hostname, port: Number(at.port) });
    at.port = String(relay.port);
    return { relay, url: at.toString() };
  }

  static async start(target: { host: string; port: number }): Promise<Relay> {
    const server = createServer();
    const relay = new Relay(server, target);
    server.on('connection', (client) => relay.accept(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return relay;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Drops every connection and refuses new ones until restore(). */
  cut(): void {
    this.cutOff = true;
    for (const p of this.pairs) this.drop(p);
  }

  restore(): void {
    this.cutOff = false;
  }

  /** Forwards nothing either way until thaw(), holding open connections and new ones. */
  freeze(): void {
    this.frozen = true;
    for (const p of this.pairs) this.stop(p);
  }

  thaw(): void {
    this.frozen = false;
    for (const p of this.pairs) if (!this.stranded.has(p)) this.forward(p);
  }

  /**
   * Forwards nothing more on the connections open now, and closes none of them towards their clients, even when the
   * server ends its side; new ones are served. Returns the stranded connections' sockets towards the server (their
   * local port is the client_port there), for a test to end their sessions as the lost host's end with it.
   */
  strand(): Socket[] {
    const upstreams: Socket[] = [];
    for (const p of this.pairs) {
      this.stranded.add(p);
      this.stop(p);
      if (p.upstream?.localPort) upstreams.push(p.upstream);
    }
    return upstreams;
  }

  /**
   * Strands the open connections (strand()) and ends their sessions on the PostgreSQL behind, as a lost host's end.
   * Polled for a while: a session still being started is not in pg_stat_activity yet, and one whose connection had
   * just closed never will be (beside the chaos probe, one run found 20 of 21 at once), its port free for another
   * connection to take, the asking one's included.
   */
  async loseServer(db: Pick<pg.Client, 'query'>): Promise<void> {
    const left = new Map(this.strand().map((s) => [s.localPort!, s]));
    const deadline = Date.now() + 10_000;
    for (;;) {
      // A closed one's port may be another connection's by now: it is left out first.
      for (const [port, socket] of left) if (socket.destroyed) left.delete(port);
      if (left.size === 0) return;
      // Ended in the select list: only the rows the filter kept (a condition beside it may be evaluated first).
      const ended = await db.query<{ port: number; ended: boolean }>(
        `SELECT client_port AS port, pg_terminate_backend(pid) AS ended FROM pg_stat_activity
          WHERE client_port = ANY($1::int[]) AND pid <> pg_backend_pid()`,
        [[...left.keys()]],
      );
      for (const { port } of ended.rows.filter((r) => r.ended)) left.delete(port);
      if (left.size === 0) return;
      if (Date.now() > deadline) throw new Error(`${left.size} stranded sessions not ended within 10 s (ports ${[...left.keys()].join(', ')})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private stop(p: Pair): void {
    p.piped = false;
    p.client.unpipe();
    p.upstream?.unpipe();
    p.client.pause();
    p.upstream?.pause();
  }

  close(): Promise<void> {
    this.stranded.clear();
    this.thaw();
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    if (this.cutOff) return void client.destroy();
    const pair: Pair = { client };
    this.pairs.add(pair);
    client.on('error', () => undefined);
    client.on('close', () => this.drop(pair));
    client.pause();
    if (!this.frozen) this.forward(pair);
  }

  private forward(pair: Pair): void {
    if (pair.piped) return;
    pair.piped = true;
    if (!pair.upstream) {
      const upstream = (pair.upstream = connect(this.target.port, this.target.host));
      upstream.on('error', () => undefined);
      upstream.on('close', () => this.stranded.has(pair) || this.drop(pair));
    }
    pair.client.pipe(pair.upstream).pipe(pair.client);
  }

  private drop(pair: Pair): void {
    this.pairs.delete(pair);
    this.stranded.delete(pair);
    pair.client.destroy();
    pair.upstream?.destroy();
  }
}
