/**
 * Whether a PostgreSQL server offers TLS, for libpq's sslmode=prefer (its default), which node-postgres lacks: TLS
 * where the server offers it, else plaintext (libpq-client.ts). Without it a URL naming no mode, which psql takes to a
 * server that requires TLS (RDS from PostgreSQL 15, Azure's flexible server), reached it here in plaintext and was
 * refused; `prefer` itself required TLS. Each server is asked once per process, before the first connection to it, with
 * an SSLRequest of its own (the handshake completed and the connection closed before any startup packet, which the
 * server does not log). The question is the connection's first step, as libpq's SSLRequest is: unanswered, the
 * connection fails with why, rather than guessing (a guess of TLS made a plaintext server that answered late refuse it
 * with "The server does not support SSL connections": CI, a standby on a busy machine). The connection's own bound
 * abandons it sooner (libpq-client.ts); ASK_MS only keeps a question no server answers from being shared for ever.
 */
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** PostgreSQL's SSLRequest: length 8, code 80877103. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
const ASK_MS = 30_000;

/** Per host:port, whether it took TLS; an ask that failed (server down) is not kept: the next connection asks again. */
const offered = new Map<string, Promise<boolean>>();

function asked(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host, port });
    socket.setTimeout(ASK_MS, () => socket.destroy(new Error(`timeout: no answer to a TLS request from ${host}:${port} within ${ASK_MS} ms`)));
    socket.once('error', reject);
    // Closed before it answered (a server going down, a proxy refusing): not asked. After an answer, a no-op.
    socket.once('close', () => reject(new Error(`${host}:${port} closed the connection before answering a TLS request`)));
    socket.once('connect', () => socket.write(SSL_REQUEST));
    socket.once('data', (answer) => {
      socket.removeAllListeners('data');
      socket.pause();
      if (answer[0] === 0x4e /* N */) {
        socket.end();
        resolve(false);
        return;
      }
      if (answer[0] !== 0x53 /* S */) {
        socket.destroy();
        reject(new Error(`unexpected answer to a TLS request from ${host}:${port}`));
        return;
      }
      // Only whether it takes TLS is asked here; the connection itself checks what its URL asks.
      const secured = tlsConnect({ socket, rejectUnauthorized: false });
      secured.once('secureConnect', () => {
        secured.end();
        resolve(true);
      });
      // A handshake that fails here fails the connection's own too, which then says why.
      secured.once('error', () => {
        secured.destroy();
        resolve(true);
      });
      secured.once('close', () => resolve(true));
    });
  });
}

/** Whether the server at host:port takes TLS, asked once per process (an ask that failed is not kept). */
export function takesTls(host: string, port: number): Promise<boolean> {
  const key = `${host}:${port}`;
  let answer = offered.get(key);
  if (!answer) {
    answer = asked(host, port);
    offered.set(key, answer);
    answer.catch(() => offered.delete(key));
  }
  return answer;
}
