/**
 * The legacy JSON stores streamed into a temporary SQLite file, checked against Debian's python3 reading the same
 * file with json.load: every keyed member, in key order, written back by json.dumps byte for byte (numbers as
 * Python keeps them, the last of duplicate keys, non-ASCII keys), including files the streaming tokenizer refuses.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openJsonStore, streamMembers, type KeyedObjects } from '../../src/services/json-store.js';
import { pyDumps, pyLoads } from '../../src/util/pyjson.js';

const dir = mkdtempSync(join(tmpdir(), 'memshift-json-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Per key (sorted by code point, as Python sorts str), json.dumps of its members, None where absent. */
const PYTHON = `
import json, sys
path, objects, encoding = json.loads(sys.stdin.read())
with open(path, 'rb') as f:
    data = json.loads(f.read()) if encoding is None else json.load(open(path, encoding=encoding))
def at(o, keys):
    for k in keys:
        o = o.get(k) if isinstance(o, dict) else None
    return o if isinstance(o, dict) else {}
maps = [at(data, o) for o in objects]
keys = sorted(set(k for m in maps for k in m))
print(json.dumps([[k, json.dumps([m.get(k) for m in maps])] for k in keys]))
`;

/** `encoding`: the file read as the agent reads it on a host whose locale's encoding that is (open() without one). */
async function both(name: string, text: string | Buffer, objects: KeyedObjects, encoding?: string) {
  const path = join(dir, name);
  writeFileSync(path, text);
  const input = JSON.stringify([path, objects, encoding ?? null]);
  const python = JSON.parse(execFileSync('python3', ['-c', PYTHON], { input, encoding: 'utf8' })) as [string, string][];
  const header = (key: string, parts: unknown[]) => ({ key, header: parts.map((p) => p ?? null), lists: [[['kept']]] });
  const store = await openJsonStore(path, objects, header, encoding ? { encoding } : {});
  try {
    const ours = [...store.all()].map((r) => [r.key, pyDumps(r.header)]);
    return { python, ours, store };
  } finally {
    store.close?.();
  }
}

describe('legacy JSON stores, streamed', () => {
  it('reads every member as Python does: numbers as written, duplicates, escapes, nesting, key order', async () => {
    const text =
      '{"b": [{"timestamp": 1732280000.0, "memory": {"n": 3.0, "big": 123456789012345678901234567890, "e": 1e5}}],\n' +
      ' "a": [], "\\u00e9t\\u00e9": [{"memory": "caf\\u00e9 \\ud83d\\ude00 \\"q\\"\\n", "timestamp": 1}],\n' +
      ' "Z": {"deep": [[[{"x": [true, false, null, -0.0, 0.1]}]]]}, "b": [{"memory": "the last b wins", "timestamp": 2.5}],\n' +
      ' "\\ud800x": 1, "zz": "scalar"}';
    const { python, ours } = await both('jarvis.json', text, [[]]);
    expect(ours).toEqual(python);
    expect(python.map(([k]) => k)).toContain('été');
  });

  it('streams a store of many chunks as Python reads it, members and multi-byte characters cut at any chunk boundary', async () => {
    // About 1 MB: members of every length, with characters of two, three and four UTF-8 bytes, so that the read
    // stream's chunks end inside members, strings, numbers and characters. Streamed alone: a file the tokenizer
    // refused would be read whole instead, and the store's records would not show it.
    const members = Array.from({ length: 3000 }, (_, i) => {
      const text = `${'é'.repeat(i % 37)}${'€'.repeat(i % 11)}${'😀'.repeat(i % 5)}${'x'.repeat(i % 300)}`;
      return `"u${String(i).padStart(5, '0')}": [{"memory": ${JSON.stringify(text)}, "timestamp": ${1732280000 + i / 8}, "n": ${i * 1e15}}]`;
    });
    const path = join(dir, 'chunks.json');
    writeFileSync(path, `{${members.join(', ')}}`);
    const streamed: [string, string][] = [];
    await streamMembers(path, [[]], (_part, key, text) => streamed.push([key, pyDumps(pyLoads(text))]));
    const python = JSON.parse(
      execFileSync('python3', ['-c', 'import json, sys\nprint(json.dumps([[k, json.dumps(v)] for k, v in json.load(open(sys.argv[1])).items()]))', path], {
        encoding: 'utf8',
        maxBuffer: 1 << 26,
      }),
    ) as [string, string][];
    expect(python).toHaveLength(3000);
    expect(streamed).toEqual(python);
  });

  it('joins the members of two keyed objects by key, skipping other members and non-object values', async () => {
    const text = JSON.stringify({
      version: 2,
      sessions: { s2: [{ type: 'code', content: 'x' }], s1: [], s3: [] },
      summaries: { s1: { key_decisions: [{ decision: 'd', timestamp: 1.5 }] }, s4: { code_context: 'c' } },
      other: { s9: [] },
    });
    const { python, ours } = await both('contextual.json', text, [['sessions'], ['summaries']]);
    expect(ours).toEqual(python);
    expect(ours.map(([k]) => k)).toEqual(['s1', 's2', 's3', 's4']);
    const notObjects = await both('contextual-lists.json', '{"sessions": [1, 2], "summaries": {"s1": {}}}', [['sessions'], ['summaries']]);
    expect(notObjects.ours).toEqual(notObjects.python);
  });

  it('reads a file the tokenizer refuses (NaN, Infinity, a BOM, UTF-16) as Python reads it', async () => {
    for (const [name, text] of [
      ['nan.json', '{"u": [{"memory": NaN, "timestamp": Infinity}], "v": [{"memory": -Infinity, "timestamp": 1}]}'],
      ['bom.json', '\uFEFF{"u": [{"memory": "m", "timestamp": 1.0}]}'],
    ] as const) {
      const { python, ours } = await both(name, text, [[]]);
      expect(ours).toEqual(python);
    }
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"u": [{"memory": "\u00e9", "timestamp": 2.0}]}', 'utf16le')]);
    const { python, ours } = await both('utf16.json', utf16, [[]]);
    expect(ours).toEqual(python);
  });

  it("reads a store its agent wrote in its host's encoding (cp1252) when told, and refuses it as UTF-8 rather than alter its text", async () => {
    // As JarvisMemoryAgent saves on a host whose locale's encoding is cp1252: open(path, 'w') and ensure_ascii off.
    const path = join(dir, 'cp1252.json');
    const users = Object.fromEntries(Array.from({ length: 3_000 }, (_, i) => [`user-${i}`, [{ timestamp: 1.5, memory: `caf\u00e9 n\u00e4ive ${i} \u20ac` }]]));
    execFileSync(
      '/usr/bin/python3',
      ['-c', "import json, sys; json.dump(json.loads(sys.stdin.read()), open(sys.argv[1], 'w', encoding='cp1252'), indent=2, ensure_ascii=False)", path],
      {
        input: JSON.stringify(users),
      },
    );
    const bytes = readFileSync(path);
    const { python, ours } = await both('cp1252.json', bytes, [[]], 'cp1252');
    expect(ours).toEqual(python);
    expect(ours.length).toBe(3_000);
    expect(ours[0]![1]).toContain(String.raw`caf\u00e9`); // json.dumps' escape of é: read as Python reads it
    // Read as UTF-8 each of those bytes would be U+FFFD, and a backfill would write that into the orchestrator.
    await expect(openJsonStore(path, [[]], (key) => ({ key, header: [], lists: [] }))).rejects.toThrow(/is not utf-8 text: .*reconcile\.legacyEncoding/);
  });

  it('serves key ranges with a limit, and refuses a file that is not an object', async () => {
    const members = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${String(i).padStart(3, '0')}`, [{ memory: i, timestamp: i }]]));
    const path = join(dir, 'many.json');
    writeFileSync(path, JSON.stringify(members));
    const store = await openJsonStore(path, [[]], (key, [list]) => ({ key, header: [], lists: [(list as unknown[]).map((e) => [e])] }));
    try {
      expect(store.between({ from: 'k100', to: 'k200' }, 10).map((r) => r.key)).toEqual(Array.from({ length: 10 }, (_, i) => `k${100 + i}`));
      expect(store.between({ from: 'k295x' }).map((r) => r.key)).toEqual(['k296', 'k297', 'k298', 'k299']);
      expect(store.between({ to: 'k002' }).map((r) => r.key)).toEqual(['k000', 'k001']);
    } finally {
      store.close?.();
    }
    writeFileSync(join(dir, 'list.json'), '[1, 2]');
    await expect(openJsonStore(join(dir, 'list.json'), [[]], (key) => ({ key, header: [], lists: [] }))).rejects.toThrow(/not a JSON object/);
  });
});
