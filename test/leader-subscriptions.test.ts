import { describe, expect, it } from 'vitest';
import { cluster } from '../src/index.js';
import { clusterHarness } from './helpers/cluster-harness.js';
import { stats, TestClient } from './helpers/test-client.js';
import { waitFor } from './helpers/wait.js';

// How the leader keeps a follower's subscriptions: the follower connection is one hub subscriber
// for all its keys (no record per key of its own), a broadcast key's last value is kept compact
// (small ones as a string) and replayed from there. Leader and followers in one process, over
// real loopback sockets.

const h = clusterHarness((options) => cluster(TestClient, options).create(), { name: 'S' });
const { make } = h;
type Client = ReturnType<typeof make>;

const KEYS = 300;
const keyName = (i: number): string => `key-${i}`;
// Values whose bytes cover every byte value (Buffer), text beyond latin1, and one value above
// the size kept as a string (4 KiB).
const valueOf = (i: number): unknown => ({
  i,
  key: keyName(i),
  bytes: Buffer.from(Array.from({ length: 256 }, (_, b) => (b + i) % 256)),
  text: `ü€😀 ${i}`,
  big: i % 100 === 7 ? 'x'.repeat(10_000) : undefined,
});

/** Subscribes `client` to the first `n` keys; the values it gets, by key index. */
function subscribeAll(client: Client, n: number): unknown[][] {
  const got: unknown[][] = Array.from({ length: n }, () => []);
  for (let i = 0; i < n; i++) client.subscribe({ dataId: keyName(i) }, (v: unknown) => void got[i]!.push(v));
  return got;
}

function hubKeys(leader: Client): Map<string, number> {
  return new Map(leader.stats().subscriptions.map((s) => [s.key, s.subscribers]));
}

const allHave = (got: unknown[][], count: number): boolean => got.every((values) => values.length >= count);

describe('the leader keeps followers subscribed to many keys', () => {
  it('every key gets its own values; a follower subscribing later is replayed each key\'s last value byte for byte', async () => {
    const leader = make();
    await leader.ready();
    const f1 = make();
    await f1.ready();
    const got1 = subscribeAll(f1, KEYS);
    const real = TestClient.instances[0]!;
    await waitFor(() => real.listenersByKey.size === KEYS, { message: 'every key subscribed upstream' });
    for (let i = 0; i < KEYS; i++) real.push(keyName(i), valueOf(i));
    await waitFor(() => allHave(got1, 1), { message: 'first values at f1' });
    got1.forEach((values, i) => expect(values).toStrictEqual([valueOf(i)]));

    // A late follower: each key's last value comes from what the leader kept.
    const f2 = make();
    await f2.ready();
    const got2 = subscribeAll(f2, KEYS);
    await waitFor(() => allHave(got2, 1), { message: 'replayed values at f2' });
    got2.forEach((values, i) => expect(values).toStrictEqual([valueOf(i)]));
    expect(stats.upstreamSubscribes).toBe(KEYS);

    // New values reach both followers, each on its own key.
    for (let i = 0; i < KEYS; i++) real.push(keyName(i), { i, second: true });
    await waitFor(() => allHave(got1, 2) && allHave(got2, 2), { message: 'second values at both' });
    for (const got of [got1, got2]) got.forEach((values, i) => expect(values[1]).toStrictEqual({ i, second: true }));
    expect([...hubKeys(leader).values()].every((n) => n === 2)).toBe(true);
  });

  it('plain JSON values (written straight into their push frame) arrive, and are replayed, byte for byte, the latest one included', async () => {
    // The default transcode's plain values are encoded into the frame they are sent in; the hub
    // keeps the frame's value bytes as the key's last value (the latest key's still a view of
    // that frame, the older ones compacted). Text beyond latin1 and one value above 4 KiB.
    const plainOf = (i: number, round: number): unknown => ({ i, round, text: `ü€😀 ${i}`, list: [i, null, true, 'x'], big: i === 4 ? 'y'.repeat(6000) : '' });
    const leader = make();
    await leader.ready();
    const f1 = make();
    await f1.ready();
    const got1 = subscribeAll(f1, 6);
    const real = TestClient.instances[0]!;
    await waitFor(() => real.listenersByKey.size === 6, { message: 'every key subscribed upstream' });
    for (let round = 0; round < 2; round++) for (let i = 0; i < 6; i++) real.push(keyName(i), plainOf(i, round));
    // The same key again and again (a burst): each value its own frame.
    for (let n = 0; n < 3; n++) real.push(keyName(5), { burst: n });
    const expected = (i: number): unknown[] => (i === 5 ? [plainOf(5, 0), plainOf(5, 1), { burst: 0 }, { burst: 1 }, { burst: 2 }] : [plainOf(i, 0), plainOf(i, 1)]);
    await waitFor(() => got1.every((values, i) => values.length === expected(i).length), { message: 'every value at f1' });
    got1.forEach((values, i) => expect(values).toStrictEqual(expected(i)));
    // Leader listeners of its own process get the same values.
    const own: unknown[] = [];
    leader.subscribe({ dataId: keyName(5) }, (v: unknown) => void own.push(v));
    const f2 = make();
    await f2.ready();
    const got2 = subscribeAll(f2, 6);
    await waitFor(() => allHave(got2, 1) && own.length === 1, { message: 'replayed values' });
    got2.forEach((values, i) => expect(values).toStrictEqual([i === 5 ? { burst: 2 } : plainOf(i, 1)]));
    expect(own).toStrictEqual([{ burst: 2 }]);
  });

  it('unSubscribe frees the key at the leader (the last one ends it upstream); the follower\'s other keys keep their values', async () => {
    const leader = make();
    await leader.ready();
    const f1 = make();
    const f2 = make();
    await Promise.all([f1.ready(), f2.ready()]);
    const got1 = subscribeAll(f1, 3);
    const got2 = subscribeAll(f2, 3);
    const key0 = JSON.stringify({ dataId: keyName(0) });
    await waitFor(() => hubKeys(leader).get(key0) === 2 && hubKeys(leader).size === 3, { message: 'both followers on 3 keys' });
    f1.unSubscribe({ dataId: keyName(0) });
    await waitFor(() => hubKeys(leader).get(key0) === 1, { message: 'f1 left key-0' });
    expect(stats.upstreamUnSubscribes).toBe(0);
    f2.unSubscribe({ dataId: keyName(0) });
    await waitFor(() => !hubKeys(leader).has(key0), { message: 'key-0 gone from the leader' });
    expect(stats.upstreamUnSubscribes).toBe(1);
    const real = TestClient.instances[0]!;
    for (let i = 0; i < 3; i++) real.push(keyName(i), i);
    await waitFor(() => got1[1]!.length === 1 && got1[2]!.length === 1 && got2[1]!.length === 1 && got2[2]!.length === 1, { message: 'keys 1 and 2 still served' });
    expect([got1[0], got2[0]]).toEqual([[], []]);
    // Subscribing again opens the key again.
    f1.subscribe({ dataId: keyName(0) }, (v: unknown) => void got1[0]!.push(v));
    await waitFor(() => hubKeys(leader).get(key0) === 1, { message: 'key-0 subscribed again' });
    real.push(keyName(0), 'again');
    await waitFor(() => got1[0]!.length === 1, { message: 'value after subscribing again' });
    expect(got1[0]).toEqual(['again']);
  });

  it('a follower gone leaves every key it had; keys it shared stay with the others', async () => {
    const leader = make();
    await leader.ready();
    const f1 = make();
    const f2 = make();
    await Promise.all([f1.ready(), f2.ready()]);
    subscribeAll(f1, 50);
    const got2 = subscribeAll(f2, 10);
    await waitFor(() => hubKeys(leader).size === 50 && hubKeys(leader).get(JSON.stringify({ dataId: keyName(9) })) === 2, { message: 'subscriptions at the leader' });
    await f1.close();
    await waitFor(() => hubKeys(leader).size === 10, { message: 'keys only f1 had are gone' });
    expect(stats.upstreamUnSubscribes).toBe(40);
    expect([...hubKeys(leader).values()]).toEqual(Array(10).fill(1));
    TestClient.instances[0]!.push(keyName(3), 'still');
    await waitFor(() => got2[3]!.length === 1, { message: 'f2 still served' });
  });

  it('a follower that formats keys differently from the leader gets values under its own key, and can leave', async () => {
    const leader = make();
    await leader.ready();
    const formatKey = (reg: unknown): string => `mine:${(reg as { dataId: string }).dataId}`;
    const renamed = make({ formatKey });
    const plain = make();
    await Promise.all([renamed.ready(), plain.ready()]);
    const a: unknown[] = [];
    const b: unknown[] = [];
    renamed.subscribe({ dataId: 'k' }, (v: unknown) => void a.push(v));
    plain.subscribe({ dataId: 'k' }, (v: unknown) => void b.push(v));
    const hubKey = JSON.stringify({ dataId: 'k' });
    await waitFor(() => hubKeys(leader).get(hubKey) === 2, { message: 'both on the leader\'s key' });
    const real = TestClient.instances[0]!;
    real.push('k', { n: 1 });
    await waitFor(() => a.length === 1 && b.length === 1, { message: 'value at both' });
    expect(a).toEqual([{ n: 1 }]);
    renamed.unSubscribe({ dataId: 'k' });
    await waitFor(() => hubKeys(leader).get(hubKey) === 1, { message: 'the renamed subscription left' });
    real.push('k', { n: 2 });
    await waitFor(() => b.length === 2, { message: 'second value at the plain follower' });
    expect(a).toEqual([{ n: 1 }]);
    // Its connection closing ends a renamed subscription too.
    renamed.subscribe({ dataId: 'k' }, (v: unknown) => void a.push(v));
    await waitFor(() => hubKeys(leader).get(hubKey) === 2, { message: 'subscribed again' });
    await renamed.close();
    await waitFor(() => hubKeys(leader).get(hubKey) === 1, { message: 'gone with its connection' });
  });
});
