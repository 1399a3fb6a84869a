/** The envelope the client sends and how it reads replies, against a scripted REP socket. */
import * as zmq from 'zeromq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLeg, LegError, type Leg } from '../../src/legs/index.js';
import { LegOrchestratorClient, readNewest } from '../../src/services/orchestrator-client.js';
import { OrchestratorError } from '../../src/services/types.js';

let server: zmq.Reply;
let leg: Leg;
const seen: Record<string, unknown>[] = [];
/** The next replies the scripted orchestrator sends, as raw text. */
const script: string[] = [];

beforeAll(async () => {
  server = new zmq.Reply({ linger: 0 });
  await server.bind('tcp://127.0.0.1:*');
  void (async () => {
    for await (const [frame] of server) {
      seen.push(JSON.parse(frame!.toString('utf8')));
      await server.send(script.shift() ?? '{"status": "ok"}');
    }
  })();
  leg = createLeg(server.lastEndpoint!, { timeoutMs: 2000, breaker: { failureThreshold: 100, openMs: 1000 } });
});
afterAll(async () => {
  await leg?.close();
  server?.close();
});

describe('LegOrchestratorClient', () => {
  it('sends the envelope and returns data', async () => {
    script.push('{"status": "success", "action": "create", "request_id": "x", "data": {"memory_id": "mem-0000abcd", "created_at": "2024-01-01T00:00:00Z"}}');
    const client = new LegOrchestratorClient(leg);
    const data = await client.call('create', 'session-12345678', { memory_type: 'entity', content: { text: 't' } });
    expect(data).toEqual({ memory_id: 'mem-0000abcd', created_at: '2024-01-01T00:00:00Z' });
    const envelope = seen.at(-1)!;
    expect(Object.keys(envelope)).toEqual(['action', 'session_id', 'payload', 'request_id', 'timestamp']);
    expect(envelope).toMatchObject({ action: 'create', session_id: 'session-12345678', payload: { memory_type: 'entity', content: { text: 't' } } });
    expect(envelope.request_id).toMatch(/^req-[0-9a-f]{8}$/);
    expect(Math.abs(Date.parse(envelope.timestamp as string) - Date.now())).toBeLessThan(10_000);
  });

  it('leaves session_id out of create_session and sends distinct request ids', async () => {
    script.push('{"status": "success", "data": {"session_id": "session-aaaaaaaa"}}', '{"status": "success", "data": {}}');
    const client = new LegOrchestratorClient(leg);
    await client.call('create_session', undefined, { user_id: 'u' });
    await client.call('end_session', 'session-aaaaaaaa');
    const [create, end] = seen.slice(-2);
    expect('session_id' in create!).toBe(false);
    expect(end).toMatchObject({ action: 'end_session', session_id: 'session-aaaaaaaa', payload: {} });
    expect(create!.request_id).not.toBe(end!.request_id);
  });

  it('throws OrchestratorError with the code of an error reply', async () => {
    script.push('{"status": "error", "request_id": "r", "error": {"code": "session_not_found", "message": "Session x not found", "details": {}}}');
    const err = await new LegOrchestratorClient(leg).call('batch_read', 'x', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OrchestratorError);
    expect(err).toMatchObject({ code: 'session_not_found', message: 'Session x not found' });
  });

  it('treats a reply that is not a JSON object as a protocol failure', async () => {
    script.push('not json', '[1, 2]');
    const client = new LegOrchestratorClient(leg);
    for (let i = 0; i < 2; i++) {
      const err = await client.call('read', 's', { memory_id: 'm' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LegError);
      expect((err as LegError).failure).toBe('protocol');
    }
  });

  it('reads newest pages only until enough memories are whole, a tie across two pages included', async () => {
    // Created at minutes 5, 4, 3, 3, 2, 1; the two at minute 3 are ordered by their legacy times, not by the page.
    const at = (min: number) => `2024-01-01T00:0${min}:00.000000`;
    const mem = (id: string, min: number, legacy: number) => ({
      memory_id: id,
      memory_type: 'conversation',
      content: { text: id, timestamp: legacy },
      tags: [],
      created_at: at(min),
    });
    const page = (memories: unknown[], offset: number) =>
      JSON.stringify({ status: 'success', data: { memories, total_count: 6, page_info: { limit: 3, offset, has_more: true } } });
    script.push(page([mem('m5', 5, 50), mem('m4', 4, 40), mem('m3b', 3, 31)], 0), page([mem('m3a', 3, 30), mem('m2', 2, 20), mem('m1', 1, 10)], 3));
    const before = seen.length;
    const got = await readNewest(
      new LegOrchestratorClient(leg),
      'session-1',
      { memory_type: 'conversation' },
      { wanted: (whole) => 3 - whole.length, pageSize: 3 },
    );
    // After the first page only m4 and m5 are whole (a second memory of minute 3 may follow): a second page, then stop.
    expect(got.map((m) => m.memory_id)).toEqual(['m2', 'm3a', 'm3b', 'm4', 'm5']);
    const reads = seen.slice(before) as { action: string; payload: { filter: Record<string, unknown> } }[];
    expect(reads.map((r) => r.payload.filter)).toEqual(
      [0, 3].map((offset) => ({ memory_type: 'conversation', sort: { field: 'created_at', order: 'desc' }, limit: 3, offset })),
    );
  });

  it('pages on from what a page held when the orchestrator caps the limit below the one asked for', async () => {
    const mem = (n: number) => ({
      memory_id: `m${n}`,
      memory_type: 'entity',
      content: { text: `m${n}` },
      tags: [],
      created_at: `2024-01-01T00:0${n}:00.000000`,
    });
    // Asked for 3 a page, it answers with at most 2 (its page_info says so).
    const page = (ns: number[], offset: number, more: boolean) =>
      JSON.stringify({ status: 'success', data: { memories: ns.map(mem), total_count: 6, page_info: { limit: 2, offset, has_more: more } } });
    script.push(page([6, 5], 0, true), page([4, 3], 2, true), page([2, 1], 4, false));
    const before = seen.length;
    const got = await readNewest(new LegOrchestratorClient(leg), 'session-1', {}, { pageSize: 3 });
    expect(got.map((m) => m.memory_id)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
    const offsets = (seen.slice(before) as { payload: { filter: { offset: number } } }[]).map((r) => r.payload.filter.offset);
    expect(offsets).toEqual([0, 2, 4]);
  });
});
