/** The jarvis-memory translator against the simulators: its replies next to the agent's own. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, storedMemories, type World } from './harness.js';

const J = 'jarvis-memory' as const;
let world: World;

beforeAll(async () => {
  world = await startWorld();
});
afterAll(async () => {
  await world?.close();
});

type Memories = { status: string; memories: { timestamp: number; memory: unknown }[] };

describe('jarvis-memory translator', () => {
  it('stores any JSON memory per user and gives them back oldest first, reminders included', async () => {
    const memories = [
      'likes jazz',
      { type: 'reminder', text: 'call mom', due: '2024-06-01T09:00:00' },
      { type: 'preference', key: 'units', value: 'metric', nested: { a: [1, 2.5, null, true] } },
      42,
      ['a', 'list'],
      'Ünïcödé 😀',
    ];
    for (const memory of memories) {
      expect((await world.both(J, { action: 'add_memory', user_id: 'erin', memory })).translated).toEqual({ status: 'ok' });
    }
    const { translated } = await world.both(J, { action: 'get_memories', user_id: 'erin' });
    const got = translated as Memories;
    expect(got.memories.map((m) => m.memory)).toEqual(memories);
    expect(got.memories.every((m) => typeof m.timestamp === 'number' && Math.abs(m.timestamp - Date.now() / 1000) < 60)).toBe(true);

    const stored = storedMemories(world, world.ids.orchestratorId(J, 'erin'));
    expect(stored.map((m) => m.memory_type)).toEqual(memories.map(() => 'entity'));
    expect(stored[0]).toMatchObject({ tags: ['jarvis', 'user:erin'], content: { text: 'likes jazz', source_agent: 'jarvis_memory_agent' } });
    expect(stored[1]!.tags).toEqual(['jarvis', 'user:erin', 'reminder']);
    expect(stored[1]!.content.metadata).toEqual({ memory: memories[1] });
  });

  it('the default user, a missing memory, and users kept apart', async () => {
    await world.both(J, { action: 'add_memory', memory: 'for the default user' });
    await world.both(J, { action: 'add_memory', user_id: 'frank' });
    await world.both(J, { action: 'add_memory', user_id: 'grace', memory: { type: 'reminder', text: 'grace only' } });
    world.ids.lookups.length = 0;
    const def = await world.both(J, { action: 'get_memories' });
    expect(world.ids.lookups).toEqual(['jarvis-memory:default']);
    expect((def.translated as Memories).memories.map((m) => m.memory)).toEqual(['for the default user']);
    const frank = await world.both(J, { action: 'get_memories', user_id: 'frank' });
    expect((frank.translated as Memories).memories.map((m) => m.memory)).toEqual([null]);
  });

  it('clear_memories then read, then write again; unknown users read empty', async () => {
    await world.both(J, { action: 'add_memory', user_id: 'heidi', memory: 'one' });
    await world.both(J, { action: 'add_memory', user_id: 'heidi', memory: 'two' });
    await world.both(J, { action: 'clear_memories', user_id: 'heidi' });
    const cleared = await world.both(J, { action: 'get_memories', user_id: 'heidi' });
    expect((cleared.translated as Memories).memories).toEqual([]);
    await world.both(J, { action: 'add_memory', user_id: 'heidi', memory: 'three' });
    const again = await world.both(J, { action: 'get_memories', user_id: 'heidi' });
    expect((again.translated as Memories).memories.map((m) => m.memory)).toEqual(['three']);
    await world.both(J, { action: 'get_memories', user_id: 'ivan-never-seen' });
    await world.both(J, { action: 'clear_memories', user_id: 'ivan-never-seen' });
    expect(world.ids.orchestratorId(J, 'ivan-never-seen')).toBeUndefined();
  });

  it('unknown actions (health_check included) answer with reason', async () => {
    const unknown = await world.both(J, { action: 'forget', user_id: 'erin' });
    expect(unknown.translated).toEqual({ status: 'error', reason: 'Unknown action' });
    await world.both(J, { action: 'health_check' });
  });
});
