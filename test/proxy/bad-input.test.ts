/**
 * Bad input: what the service itself answers (not JSON, no action, a list) reaches it and its own reply comes
 * back, since memshift is never stricter than the service; what memshift cannot take apart (too large, too
 * deep, several frames) gets a clear error in the service's shape. Neither hurts the process.
 */
import { describe, expect, it } from 'vitest';
import { ReqClient } from '../support/zmq-client.js';
import { useProxyOnSims } from '../support/stack.js';

const LIMIT = 4096;
const { sims, proxy } = useProxyOnSims({ zmq: { maxFrameBytes: LIMIT }, http: { host: '127.0.0.1', port: 0, bodyLimitBytes: LIMIT } });
const SERVICES = ['session-memory', 'contextual-memory', 'jarvis-memory'] as const;

/** One frame's reply on a fresh socket. */
async function rawOnce(endpoint: string, frame: string): Promise<Buffer> {
  const client = new ReqClient(endpoint);
  try {
    return await client.raw(frame);
  } finally {
    client.close();
  }
}

describe.each([
  ['not JSON', '{"action": "get_context", '],
  ['a JSON array', '[1, 2]'],
  ['a bare string', '"get_context"'],
  ['no action', '{"session_id": "s"}'],
  ['an action that is no string', '{"action": 5}'],
])('ZeroMQ front, %s', (_name, frame) => {
  it('reaches the service, whose own answer comes back', async () => {
    for (const service of SERVICES) {
      expect((await rawOnce(proxy().fronts[service]!, frame)).toString()).toBe((await rawOnce(sims().endpoints[service], frame)).toString());
    }
  });
});

const BAD_FRAMES: [string, string | string[], RegExp][] = [
  ['oversized', `{"action": "add_interaction", "content": "${'x'.repeat(LIMIT)}"}`, /exceeds the 4096-byte limit/],
  ['too deep', `{"action": "add_memory", "memory": ${'['.repeat(1500)}${']'.repeat(1500)}}`.slice(0, 3500), /nested deeper than 1000 levels|not valid/],
  ['multi-part', ['{"action": "health_check"}', '{"action": "health_check"}'], /expected one frame/],
];

describe.each(BAD_FRAMES)('ZeroMQ front, %s', (_name, frames, message) => {
  it('answers in each service own error shape and keeps serving', async () => {
    const shapes = {
      'session-memory': (r: Record<string, unknown>) => expect(r).toEqual({ status: 'error', message: expect.stringMatching(message), request_id: null }),
      'contextual-memory': (r: Record<string, unknown>) => expect(r).toEqual({ status: 'error', message: expect.stringMatching(message) }),
      'jarvis-memory': (r: Record<string, unknown>) => expect(r).toEqual({ status: 'error', reason: expect.stringMatching(message) }),
    };
    for (const [service, check] of Object.entries(shapes)) {
      const client = new ReqClient(proxy().fronts[service as keyof typeof shapes]!);
      try {
        check(JSON.parse((await client.raw(frames)).toString('utf8')) as Record<string, unknown>);
        // The same socket and the process are still fine afterwards.
        expect(await client.call({ action: 'get_memories', user_id: 'after-bad-input' })).toBeTypeOf('object');
      } finally {
        client.close();
      }
    }
  });
});

describe('HTTP front', () => {
  const post = (path: string, body: string) => fetch(`${proxy().httpUrl}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });

  it('answers 400 with a JSON body for input too deep to take apart', async () => {
    const res = await post('/v1/session-memory', `{"action": "x", "v": ${'['.repeat(1200)}${']'.repeat(1200)}}`);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(await res.json()).toMatchObject({ status: 'error', message: expect.stringMatching(/^memshift: request is nested deeper than 1000 levels/) });
  });

  it.each([
    ['not JSON', '{"action": '],
    ['a JSON array', '[1]'],
    ['no action', '{}'],
  ])('passes %s to the service and answers with its reply', async (_name, body) => {
    const res = await post('/v1/session-memory', body);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe((await rawOnce(sims().endpoints['session-memory'], body)).toString());
  });

  it('answers 413 with a JSON body for an oversized request', async () => {
    const res = await post('/v1/session-memory', `{"action": "x", "pad": "${'x'.repeat(LIMIT)}"}`);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ status: 'error', message: expect.stringMatching(/memshift/) });
  });

  it('answers 404 for an unknown service', async () => {
    const res = await post('/v1/no-such-service', '{"action": "x"}');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ status: 'error' });
  });

  it('uses the service error shape for jarvis (reason, not message)', async () => {
    const res = await post('/v1/jarvis-memory', `{"action": "x", "v": ${'['.repeat(1200)}${']'.repeat(1200)}}`);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ status: 'error', reason: expect.stringMatching(/nested deeper/) });
  });
});
