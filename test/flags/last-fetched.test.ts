/**
 * LastFetched, unleash-client's storage provider over the state store: the file answers when the store has nothing
 * or does not answer (what it held seeding the held flags once it does, nothing written over it before); a fetch never
 * waits on the store's writes; the newest response is the one kept, also across a failed write.
 */
import { expect, it } from 'vitest';
import type { ClientFeaturesResponse } from 'unleash-client';
import { LastFetched, type FetchedFlagsKeeper } from '../../src/flags/last-fetched.js';

const response = (name: string): ClientFeaturesResponse => ({ version: 2, features: [{ name, enabled: true, strategies: [] }] });
const FILE = response('from-the-file');

class Keeper implements FetchedFlagsKeeper {
  rows = new Map<string, unknown>();
  writes: string[] = [];
  failNext = 0;
  hang = false;
  gate: Promise<void> = Promise.resolve();
  read(app: string): Promise<unknown> {
    return this.hang ? new Promise(() => undefined) : Promise.resolve(this.rows.get(app));
  }
  async write(app: string, r: unknown): Promise<void> {
    await this.gate;
    if (this.failNext-- > 0) throw new Error('store down');
    const name = (r as ClientFeaturesResponse).features[0]!.name;
    this.writes.push(name);
    this.rows.set(app, r);
  }
}

const until = async (ok: () => boolean, ms: number) => {
  for (const start = Date.now(); !ok(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() - start > ms) throw new Error(`not within ${ms} ms`);
};

it('answers with what the store kept, else with the file, and with the file when the store does not answer', async () => {
  const keeper = new Keeper();
  expect(await new LastFetched(keeper, FILE).get('memshift')).toEqual(FILE);
  keeper.rows.set('memshift', response('fetched'));
  expect(await new LastFetched(keeper, FILE).get('memshift')).toEqual(response('fetched'));
  expect(await new LastFetched(keeper, FILE).get('other-app')).toEqual(FILE);
  keeper.hang = true;
  expect(await new LastFetched(keeper, FILE).get('memshift')).toEqual(FILE);
  expect(await new LastFetched(undefined, FILE).get('memshift')).toEqual(FILE);
});

it('tells the held flags of a store that answers past the wait, once it answers: the file answers meanwhile', async () => {
  const keeper = new Keeper();
  keeper.rows.set('memshift', response('held by the fleet'));
  let answer!: () => void;
  const late = new Promise<void>((r) => (answer = r));
  keeper.read = async (app) => {
    await late;
    return keeper.rows.get(app);
  };
  const seeded: string[] = [];
  const held = { seed: (doc: ClientFeaturesResponse) => void seeded.push(doc.features[0]!.name), amend: (doc: ClientFeaturesResponse) => doc };
  expect(await new LastFetched(keeper, FILE, held).get('memshift')).toEqual(FILE);
  expect(seeded).toEqual([]);
  answer();
  await until(() => seeded.length > 0, 5_000);
  expect(seeded).toEqual(['held by the fleet']);
}, 30_000);

it("writes nothing over the store before its start's read has answered, and then keeps the fleet's held flags with its own", async () => {
  const keeper = new Keeper();
  keeper.rows.set('memshift', response('held by the fleet'));
  let answer!: () => void;
  const late = new Promise<void>((r) => (answer = r));
  const read = keeper.read.bind(keeper);
  keeper.read = async (app) => {
    await late;
    return read(app);
  };
  const seeded: ClientFeaturesResponse[] = [];
  const held = {
    seed: (doc: ClientFeaturesResponse) => void seeded.push(doc),
    amend: (doc: ClientFeaturesResponse) => ({ ...doc, features: [...doc.features, ...seeded.flatMap((d) => d.features)] }),
  };
  const kept = new LastFetched(keeper, FILE, held);
  const starting = kept.get('memshift');
  // Its own first fetch answers before the store does.
  await kept.set('memshift', response('fetched first'));
  await new Promise((r) => setTimeout(r, 300));
  expect(keeper.writes).toEqual([]);
  answer();
  expect(await starting).toEqual(response('held by the fleet'));
  await until(() => keeper.writes.length === 1, 5_000);
  expect((keeper.rows.get('memshift') as ClientFeaturesResponse).features.map((f) => f.name)).toEqual(['fetched first', 'held by the fleet']);
}, 30_000);

it('keeps the newest fetched response without making the fetch wait, and tries again after a failed write', async () => {
  const keeper = new Keeper();
  let open!: () => void;
  keeper.gate = new Promise((r) => (open = r));
  const kept = new LastFetched(keeper, FILE);
  // The store holds the first write: set() answers at once all the same.
  await kept.set('memshift', response('one'));
  await kept.set('memshift', response('two'));
  await kept.set('memshift', response('three'));
  expect(keeper.writes).toEqual([]);
  open();
  await until(() => keeper.writes.length === 2, 5_000);
  // 'two' was overtaken while 'one' was being written.
  expect(keeper.writes).toEqual(['one', 'three']);

  keeper.failNext = 1;
  await kept.set('memshift', response('four'));
  await until(() => keeper.writes.length === 3, 15_000);
  expect(keeper.rows.get('memshift')).toEqual(response('four'));

  kept.close();
  await kept.set('memshift', response('five'));
  await new Promise((r) => setTimeout(r, 100));
  expect(keeper.writes).toEqual(['one', 'three', 'four']);
}, 30_000);
