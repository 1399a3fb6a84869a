/** Bad input on both fronts gets a clear error in the caller's protocol and never hurts the process. */
import { describe, expect, it } from 'vitest';
import { ReqClient } from '../support/zmq-client.js';
import { useProxyOnSims } from '../support/stack.js';

const LIMIT = 4096;
const { proxy } = useProxyOnSims({ zmq: { maxFrameBytes: LIMIT }, http: { host: '127.0.0.1', port: 0, bodyLimitBytes: LIMIT } });

const BAD_FRAMES: [string, string | string[], RegExp][] = [
  ['not JSON', '{"action": "get_context", ', /not valid JSON/],
  ['a JSON array', '[1, 2]', /must be a JSON object/],
  ['a bare string', '"get_context"', /must be a JSON object/],
  ['no action', '{"session_id": "s"}', /no "action"/],
  ['oversized', `{"action": "add_interaction", "content": "${'x'.repeat(LIMIT)}"}`, /exceeds the 4096-byte limit/],
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

  it.each([
    ['not JSON', '{"action": '],
    ['a JSON array', '[1]'],
    ['no action', '{}'],
  ])('answers 400 with a JSON body for %s', async (_name, body) => {
    const res = await post('/v1/session-memory', body);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(await res.json()).toMatchObject({ status: 'error', message: expect.stringMatching(/^memshift: /) });
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
    const res = await post('/v1/jarvis-memory', 'nope');
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ status: 'error', reason: expect.stringMatching(/not valid JSON/) });
  });
});
