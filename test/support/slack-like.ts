/** A webhook receiver that checks payloads as Slack's incoming webhooks do: JSON with a non-empty `text` (or `blocks`). */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlackLike {
  url: string;
  /** What it took (answered 200 ok), oldest first. */
  posted: { type: string; text: string; event: { id: number | null; service: string; kind?: string; replica?: string } }[];
  /** What it refused, as Slack does: 400 and the reason (invalid_payload, no_text). */
  refused: string[];
  close(): Promise<void>;
}

export async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
}

export async function startSlackLike(): Promise<SlackLike> {
  const posted: SlackLike['posted'] = [];
  const refused: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      let doc: { text?: unknown; blocks?: unknown };
      try {
        doc = JSON.parse(body) as typeof doc;
      } catch {
        refused.push('invalid_payload');
        return res.writeHead(400).end('invalid_payload');
      }
      if ((typeof doc.text !== 'string' || !doc.text) && !Array.isArray(doc.blocks)) {
        refused.push('no_text');
        return res.writeHead(400).end('no_text');
      }
      posted.push(doc as SlackLike['posted'][number]);
      res.writeHead(200).end('ok');
    });
  });
  const url = await listen(server);
  return { url, posted, refused, close: () => new Promise((r) => server.close(() => r())) };
}
